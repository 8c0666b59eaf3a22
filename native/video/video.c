// Video frames in process through FFmpeg's libraries (libavformat, libavcodec, libavfilter): the
// probe (frame count, size, rotation) and the decode into raw rgb24 frames that src/data/video uses.
// It replaces two ffmpeg/ffprobe processes per video, whose start alone (~200 shared libraries) took
// 0.15-0.22 s each, and the pipe between them and Node (bench/video-decode.ts, docs/benchmarks.md).
// The frames are those of the ffmpeg CLI command it replaces, byte for byte: the same filter chain
// text (given by the caller), the CLI's autorotate filters, its default scaler flags, one filter
// thread, every decoded frame passed through. Thin and mechanical: policy (which chain, names,
// limits, messages for the user) lives in TypeScript.
//
// Every call that touches a file runs on libuv's thread pool (napi async work); a decoder is used by
// one call at a time (the TypeScript side awaits each read). Input is untrusted: local files only
// (protocol whitelist "file"), only the MP4/MOV, Matroska/WebM and AVI demuxers, and a deadline
// enforced inside libavformat's blocking reads (interrupt callback) and between frames.
#include <node_api.h>

#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libavformat/avformat.h>
#include <libavutil/avstring.h>
#include <libavutil/display.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libavutil/time.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG 512
static const char *FORMATS = "mov,matroska,avi";

// ---- messages: libav logs its reasons (e.g. "moov atom not found") instead of returning them; the
// log callback keeps the last error-level line of the calling thread's current job. Lines logged by
// a decoder's own frame threads have no job and are dropped (the returned error still names what failed).
typedef struct {
  char last[MSG];
} LogSink;
static _Thread_local LogSink *current_sink = NULL;

static void log_callback(void *avcl, int level, const char *fmt, va_list vl) {
  if (level > AV_LOG_ERROR || !current_sink) return;
  char line[MSG];
  int prefix = 1;
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
  // "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0c8] moov atom not found": the address is no one's business
  char *at = strstr(line, " @ 0x");
  char *close = at ? strchr(at, ']') : NULL;
  if (close) memmove(at, close, strlen(close) + 1);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == ' ')) line[--n] = 0;
  if (n) memcpy(current_sink->last, line, n + 1);
}

// ---- an open input: demuxer, first video stream, decoder
typedef struct {
  AVFormatContext *fmt;
  AVCodecContext *dec;
  int stream;
  int64_t deadline; // av_gettime_relative() µs
  int timed_out;
  LogSink log;
} Input;

static int interrupted(void *opaque) {
  Input *in = opaque;
  if (av_gettime_relative() > in->deadline) in->timed_out = 1;
  return in->timed_out;
}

static void input_close(Input *in) {
  avcodec_free_context(&in->dec);
  avformat_close_input(&in->fmt);
}

/** "<what>: <libav's own line, else the error code's text>" into `out`. */
static void describe(char *out, const Input *in, const char *what, int err) {
  char code[128];
  av_strerror(err, code, sizeof code);
  if (in->timed_out) snprintf(out, MSG, "timeout");
  else if (in->log.last[0]) snprintf(out, MSG, "%s: %.400s", what, in->log.last);
  else snprintf(out, MSG, "%s: %s", what, code);
}

/**
 * Opens `path` (already checked by the caller) and its first video stream. With `decoder` it also
 * opens the stream's decoder with `threads` (0: libavcodec's auto, as the CLI's default). Returns NULL,
 * or an error kind ("unsupported", "corrupt") with the reason in `why`.
 */
static const char *input_open(Input *in, const char *path, int decoder, int threads, int64_t max_pixels, char *why) {
  in->fmt = avformat_alloc_context();
  if (!in->fmt) return snprintf(why, MSG, "out of memory"), "corrupt";
  in->fmt->interrupt_callback.callback = interrupted;
  in->fmt->interrupt_callback.opaque = in;
  AVDictionary *opts = NULL;
  av_dict_set(&opts, "protocol_whitelist", "file", 0);
  av_dict_set(&opts, "format_whitelist", FORMATS, 0);
  char *url = av_asprintf("file:%s", path); // file: so that a name with ':' is never read as a protocol
  if (!url) {
    av_dict_free(&opts);
    avformat_free_context(in->fmt);
    in->fmt = NULL;
    return snprintf(why, MSG, "out of memory"), "corrupt";
  }
  int err = avformat_open_input(&in->fmt, url, NULL, &opts);
  av_free(url);
  av_dict_free(&opts);
  if (err < 0) return describe(why, in, "opening", err), "corrupt"; // (the context is freed on failure)
  if ((err = avformat_find_stream_info(in->fmt, NULL)) < 0) return describe(why, in, "reading stream info", err), "corrupt";
  in->stream = -1;
  for (unsigned i = 0; i < in->fmt->nb_streams; i++) {
    if (in->stream < 0 && in->fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_VIDEO) in->stream = (int)i;
    else in->fmt->streams[i]->discard = AVDISCARD_ALL; // demux the chosen stream only
  }
  if (in->stream < 0) return snprintf(why, MSG, "no video stream"), "unsupported";
  if (!decoder) return NULL;
  AVStream *st = in->fmt->streams[in->stream];
  const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
  if (!codec) return snprintf(why, MSG, "no decoder for codec %s", avcodec_get_name(st->codecpar->codec_id)), "unsupported";
  in->dec = avcodec_alloc_context3(codec);
  if (!in->dec) return snprintf(why, MSG, "out of memory"), "corrupt";
  if ((err = avcodec_parameters_to_context(in->dec, st->codecpar)) < 0) return describe(why, in, "decoder parameters", err), "corrupt";
  in->dec->pkt_timebase = st->time_base;
  in->dec->thread_count = threads;
  // A header may promise a small size and later frames a huge one: the decoder refuses frames over the limit.
  if (max_pixels > 0) in->dec->max_pixels = max_pixels;
  if ((err = avcodec_open2(in->dec, codec, NULL)) < 0) return describe(why, in, "opening the decoder", err), "corrupt";
  return NULL;
}

/** The display matrix's rotation as ffprobe reports it (counter-clockwise degrees), else the legacy `rotate` tag, else 0. */
static double rotation_of(AVStream *st) {
  const uint8_t *m = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
  if (m) {
    double r = av_display_rotation_get((const int32_t *)m);
    if (!isnan(r)) return r;
  }
  AVDictionaryEntry *tag = av_dict_get(st->metadata, "rotate", NULL, 0);
  return tag ? -atof(tag->value) : 0; // the tag is clockwise
}

// ---- N-API helpers
#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error(env, NULL, "winnow_video: N-API call failed: " #call); \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static napi_value str(napi_env env, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}
static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}
static void set(napi_env env, napi_value obj, const char *key, napi_value v) { napi_set_named_property(env, obj, key, v); }

/** An Error with `code` (the kind) for a failed job. */
static napi_value job_error(napi_env env, const char *kind, const char *why) {
  napi_value e;
  napi_create_error(env, str(env, kind), str(env, why), &e);
  return e;
}

static char *string_arg(napi_env env, napi_value v) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return NULL;
  char *s = malloc(n + 1);
  napi_get_value_string_utf8(env, v, s, n + 1, &n);
  return s;
}

static double number_arg(napi_env env, napi_value v) {
  double d = NAN;
  napi_get_value_double(env, v, &d);
  return d;
}

// ---- probe(path, countPackets | "times", timeoutMs): Promise<{frames, width, height, rotation, durationS, codec[, times]}>
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int count;          // 1: count packets; 2: also keep each packet's time (pts, else dts; NaN when neither)
  double *times;
  size_t ntimes, cap;
  double timeout_ms;
  const char *kind; // NULL: ok
  char why[MSG];
  int64_t frames;
  int width, height;
  double rotation, duration;
  char codec[64];
} Probe;

static void probe_execute(napi_env env, void *data) {
  (void)env;
  Probe *p = data;
  Input in = {0};
  in.deadline = av_gettime_relative() + (int64_t)(p->timeout_ms * 1000);
  current_sink = &in.log;
  p->kind = input_open(&in, p->path, 0, 0, 0, p->why);
  if (!p->kind) {
    AVStream *st = in.fmt->streams[in.stream];
    p->width = st->codecpar->width;
    p->height = st->codecpar->height;
    p->rotation = rotation_of(st);
    snprintf(p->codec, sizeof p->codec, "%s", avcodec_get_name(st->codecpar->codec_id));
    p->duration = st->duration != AV_NOPTS_VALUE ? st->duration * av_q2d(st->time_base)
                  : in.fmt->duration != AV_NOPTS_VALUE ? in.fmt->duration / (double)AV_TIME_BASE : NAN;
    p->frames = -1;
    if (p->count) { // packets of the stream, demuxed not decoded (ffprobe's -count_packets)
      AVPacket *pkt = av_packet_alloc();
      int err;
      p->frames = 0;
      const double tb = av_q2d(in.fmt->streams[in.stream]->time_base);
      while ((err = av_read_frame(in.fmt, pkt)) >= 0) {
        if (pkt->stream_index == in.stream) {
          p->frames++;
          if (p->count == 2) {
            if (p->ntimes == p->cap) {
              p->cap = p->cap ? 2 * p->cap : 1024;
              double *grown = realloc(p->times, p->cap * sizeof *grown);
              if (!grown) { p->kind = "corrupt", snprintf(p->why, MSG, "out of memory"); av_packet_unref(pkt); break; }
              p->times = grown;
            }
            const int64_t t = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
            p->times[p->ntimes++] = t != AV_NOPTS_VALUE ? t * tb : NAN;
          }
        }
        av_packet_unref(pkt);
      }
      av_packet_free(&pkt);
      if (in.timed_out) p->kind = "timeout", snprintf(p->why, MSG, "timeout");
    }
  }
  current_sink = NULL;
  input_close(&in);
}

static void probe_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  Probe *p = data;
  if (p->kind) {
    napi_reject_deferred(env, p->deferred, job_error(env, p->kind, p->why));
  } else {
    napi_value o;
    napi_create_object(env, &o);
    set(env, o, "frames", num(env, (double)p->frames));
    set(env, o, "width", num(env, p->width));
    set(env, o, "height", num(env, p->height));
    set(env, o, "rotation", num(env, p->rotation));
    set(env, o, "durationS", num(env, p->duration));
    set(env, o, "codec", str(env, p->codec));
    if (p->count == 2) {
      void *data = NULL;
      napi_value ab, times;
      napi_create_arraybuffer(env, p->ntimes * sizeof(double), &data, &ab);
      if (p->ntimes) memcpy(data, p->times, p->ntimes * sizeof(double));
      napi_create_typedarray(env, napi_float64_array, p->ntimes, ab, 0, &times);
      set(env, o, "times", times);
    }
    napi_resolve_deferred(env, p->deferred, o);
  }
  napi_delete_async_work(env, p->work);
  free(p->times);
  free(p->path);
  free(p);
}

static napi_value probe(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Probe *p = calloc(1, sizeof *p);
  p->path = string_arg(env, argv[0]);
  // countPackets: false (headers only), true (count), or "times" (count and keep each packet's time)
  bool count = false;
  napi_valuetype t;
  napi_typeof(env, argv[1], &t);
  if (t == napi_string) p->count = 2;
  else napi_get_value_bool(env, argv[1], &count), p->count = count;
  p->timeout_ms = number_arg(env, argv[2]);
  if (!p->path || !(p->timeout_ms > 0)) {
    free(p->path);
    free(p);
    napi_throw_type_error(env, NULL, "probe(path: string, countPackets: boolean, timeoutMs > 0)");
    return NULL;
  }
  CHECK(env, napi_create_promise(env, &p->deferred, &promise));
  CHECK(env, napi_create_async_work(env, NULL, str(env, "winnow.video.probe"), probe_execute, probe_complete, p, &p->work));
  CHECK(env, napi_queue_async_work(env, p->work));
  return promise;
}

// ---- a decoder: open(path, chain, width, height, threads, timeoutMs[, maxPixels]) → handle; read(handle, buf, max) → {frames, done, error}
typedef struct {
  Input in;
  char *chain;        // the caller's filter chain, after the autorotate filters
  char rotate[64];    // the CLI's autorotate filters ("" for none)
  int out_w, out_h;   // the chain's output size: frames of another size are an error
  AVFilterGraph *graph;
  AVFilterContext *src, *sink;
  int gw, gh, gfmt;   // what the graph was configured for (re-configured when frames change, as the CLI does)
  AVPacket *pkt;
  AVFrame *frame, *filtered;
  int read_eof, decoder_eof, graph_eof;
  int pending;        // d->frame waits for a new graph while the old one is drained
  int failures_in_row; // decode errors while flushing since the last good frame
  char error[MSG];    // the last problem met (decoding goes on past bad packets, as the CLI does)
  int busy, closed;
} Decoder;

static void decoder_free(Decoder *d) {
  avfilter_graph_free(&d->graph);
  av_packet_free(&d->pkt);
  av_frame_free(&d->frame);
  av_frame_free(&d->filtered);
  input_close(&d->in);
  free(d->chain);
  d->chain = NULL;
  d->closed = 1;
}

/** The autorotate filters of ffmpeg 5.1's CLI for the stream's display matrix. */
static void autorotate(Decoder *d) {
  double theta = -round(rotation_of(d->in.fmt->streams[d->in.stream])); // clockwise, as the CLI's get_rotation
  theta -= 360 * floor(theta / 360 + 0.9 / 360);
  d->rotate[0] = 0;
  if (fabs(theta - 90) < 1.0) snprintf(d->rotate, sizeof d->rotate, "transpose=clock,");
  else if (fabs(theta - 180) < 1.0) snprintf(d->rotate, sizeof d->rotate, "hflip,vflip,");
  else if (fabs(theta - 270) < 1.0) snprintf(d->rotate, sizeof d->rotate, "transpose=cclock,");
  else if (fabs(theta) > 1.0) snprintf(d->rotate, sizeof d->rotate, "rotate=%f,", theta * M_PI / 180);
}

/** (Re)builds the filter graph for frames like `f`: buffer → autorotate → chain → buffersink. */
static int configure(Decoder *d, const AVFrame *f) {
  avfilter_graph_free(&d->graph);
  d->graph = avfilter_graph_alloc();
  if (!d->graph) return AVERROR(ENOMEM);
  d->graph->nb_threads = 1; // the CLI's -filter_threads 1 (frames.ts says why)
  av_opt_set(d->graph, "scale_sws_opts", "flags=bicubic", 0); // the CLI's default for inserted conversions
  AVStream *st = d->in.fmt->streams[d->in.stream];
  AVRational sar = f->sample_aspect_ratio.num ? f->sample_aspect_ratio : (AVRational){0, 1};
  char args[256];
  snprintf(args, sizeof args, "video_size=%dx%d:pix_fmt=%d:time_base=%d/%d:pixel_aspect=%d/%d", f->width, f->height,
           f->format, st->time_base.num, st->time_base.den, sar.num, sar.den);
  int err = avfilter_graph_create_filter(&d->src, avfilter_get_by_name("buffer"), "in", args, NULL, d->graph);
  if (err >= 0) err = avfilter_graph_create_filter(&d->sink, avfilter_get_by_name("buffersink"), "out", NULL, NULL, d->graph);
  if (err < 0) return err;
  size_t n = strlen(d->rotate) + strlen(d->chain) + 1;
  char *text = malloc(n);
  snprintf(text, n, "%s%s", d->rotate, d->chain);
  AVFilterInOut *outputs = avfilter_inout_alloc(), *inputs = avfilter_inout_alloc();
  outputs->name = av_strdup("in");
  outputs->filter_ctx = d->src;
  inputs->name = av_strdup("out");
  inputs->filter_ctx = d->sink;
  err = avfilter_graph_parse_ptr(d->graph, text, &inputs, &outputs, NULL);
  avfilter_inout_free(&inputs);
  avfilter_inout_free(&outputs);
  free(text);
  if (err >= 0) err = avfilter_graph_config(d->graph, NULL);
  if (err >= 0) d->gw = f->width, d->gh = f->height, d->gfmt = f->format;
  return err;
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref handle_ref;
  Decoder *d;
  uint8_t *out;       // the caller's buffer (kept alive by handle_ref's sibling buffer_ref)
  napi_ref buffer_ref;
  int max, frames, done;
  // open only:
  char *path;
  int threads;
  int64_t max_pixels;
  double timeout_ms;
  const char *kind;
  char why[MSG];
} Job;

static void note(Decoder *d, const char *what, int err) {
  describe(d->error, &d->in, what, err);
  d->in.log.last[0] = 0;
}

/** Copies one filtered frame into the caller's buffer; 0, or -1 when its size is not the one promised. */
static int take(Decoder *d, Job *j, const AVFrame *f) {
  if (f->width != d->out_w || f->height != d->out_h || f->format != AV_PIX_FMT_RGB24) {
    snprintf(d->error, MSG, "a frame came out %dx%d %s, not %dx%d rgb24", f->width, f->height,
             av_get_pix_fmt_name(f->format) ? av_get_pix_fmt_name(f->format) : "?", d->out_w, d->out_h);
    return -1;
  }
  const size_t row = (size_t)d->out_w * 3;
  uint8_t *dst = j->out + (size_t)j->frames * row * d->out_h;
  for (int y = 0; y < d->out_h; y++) memcpy(dst + y * row, f->data[0] + (ptrdiff_t)y * f->linesize[0], row);
  j->frames++;
  return 0;
}

/** Sends the decoded frame in d->frame through the graph (built for it first if needed); <0 on an error (noted). */
static int push(Decoder *d) {
  int err = 0;
  if (!d->graph || d->frame->width != d->gw || d->frame->height != d->gh || d->frame->format != d->gfmt) err = configure(d, d->frame);
  if (err < 0) note(d, "filter graph", err);
  else if ((err = av_buffersrc_add_frame(d->src, d->frame)) < 0) note(d, "filtering", err); // takes the frame's reference
  av_frame_unref(d->frame);
  return err;
}

/** Decodes until `max` frames are in the buffer or the input ends (then done = 1). */
static void read_execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  Decoder *d = j->d;
  current_sink = &d->in.log;
  int err;
  while (j->frames < j->max) {
    if (d->in.timed_out || av_gettime_relative() > d->in.deadline) {
      d->in.timed_out = 1;
      snprintf(d->error, MSG, "timeout");
      j->done = 1;
      break;
    }
    if (d->graph) { // frames waiting at the end of the graph first
      err = av_buffersink_get_frame(d->sink, d->filtered);
      if (err >= 0) {
        int bad = take(d, j, d->filtered);
        av_frame_unref(d->filtered);
        if (bad) { j->done = 1; break; }
        continue;
      }
      if (d->pending && (err == AVERROR_EOF || err == AVERROR(EAGAIN))) { // the old graph is drained
        d->pending = 0;
        if ((err = push(d)) < 0) { j->done = 1; break; }
        continue;
      }
      if (err == AVERROR_EOF) { j->done = 1; break; }
      if (err != AVERROR(EAGAIN)) { note(d, "filtering", err); j->done = 1; break; }
    }
    if (d->graph_eof) { j->done = 1; break; } // flushed and drained (no graph: no frame ever decoded)
    if (!d->decoder_eof) {
      err = avcodec_receive_frame(d->in.dec, d->frame);
      if (err >= 0) {
        d->failures_in_row = 0;
        if (d->graph && (d->frame->width != d->gw || d->frame->height != d->gh || d->frame->format != d->gfmt)) {
          // frames changed size or format mid-stream: the CLI drains the graph, then builds a new one
          if ((err = av_buffersrc_add_frame(d->src, NULL)) < 0) { note(d, "filtering", err); j->done = 1; break; }
          d->pending = 1; // d->frame waits for the new graph
          continue;
        }
        if ((err = push(d)) < 0) { j->done = 1; break; }
        continue;
      }
      if (err == AVERROR_EOF) {
        d->decoder_eof = 1;
        if (!d->graph) d->graph_eof = 1;
        else if ((err = av_buffersrc_add_frame(d->src, NULL)) < 0) { note(d, "filtering", err); j->done = 1; break; } // flush the graph
        continue;
      }
      if (err != AVERROR(EAGAIN)) { // a bad frame: go on with the next packet (as the CLI does)
        note(d, "error while decoding", err);
        if (!d->read_eof) goto next_packet;
        if (++d->failures_in_row > 64) { j->done = 1; break; } // flushing, and the decoder only fails: nothing more will come
        continue;
      }
    }
    if (d->read_eof) continue; // the decoder is being flushed
  next_packet:
    err = av_read_frame(d->in.fmt, d->pkt);
    if (err < 0) {
      if (err != AVERROR_EOF) note(d, "error while reading", err); // truncated data: decode what came
      d->read_eof = 1;
      avcodec_send_packet(d->in.dec, NULL);
      continue;
    }
    if (d->pkt->stream_index == d->in.stream) {
      err = avcodec_send_packet(d->in.dec, d->pkt);
      if (err < 0 && err != AVERROR(EAGAIN)) note(d, "error while decoding", err); // a bad packet: go on
    }
    av_packet_unref(d->pkt);
  }
  current_sink = NULL;
}

static napi_value read_result(napi_env env, Job *j) {
  napi_value o, nul;
  napi_create_object(env, &o);
  napi_get_null(env, &nul);
  set(env, o, "frames", num(env, j->frames));
  napi_value done;
  napi_get_boolean(env, j->done, &done);
  set(env, o, "done", done);
  set(env, o, "error", j->d->error[0] ? str(env, j->d->error) : nul);
  napi_value timed_out;
  napi_get_boolean(env, j->d->in.timed_out, &timed_out);
  set(env, o, "timedOut", timed_out);
  return o;
}

static void read_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  Job *j = data;
  j->d->busy = 0;
  napi_resolve_deferred(env, j->deferred, read_result(env, j));
  napi_delete_reference(env, j->buffer_ref);
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free(j);
}

static void open_execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  Decoder *d = j->d;
  d->in.deadline = av_gettime_relative() + (int64_t)(j->timeout_ms * 1000);
  current_sink = &d->in.log;
  j->kind = input_open(&d->in, j->path, 1, j->threads, j->max_pixels, j->why);
  if (!j->kind) {
    autorotate(d);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    d->filtered = av_frame_alloc();
    if (!d->pkt || !d->frame || !d->filtered) j->kind = "corrupt", snprintf(j->why, MSG, "out of memory");
  }
  d->in.log.last[0] = 0;
  current_sink = NULL;
}

static void open_complete(napi_env env, napi_status status, void *data) {
  (void)status;
  Job *j = data;
  j->d->busy = 0;
  if (j->kind) {
    decoder_free(j->d);
    napi_reject_deferred(env, j->deferred, job_error(env, j->kind, j->why));
  } else {
    napi_value handle;
    napi_get_reference_value(env, j->handle_ref, &handle);
    napi_resolve_deferred(env, j->deferred, handle);
  }
  napi_delete_reference(env, j->handle_ref);
  napi_delete_async_work(env, j->work);
  free(j->path);
  free(j);
}

static void finalize_decoder(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  Decoder *d = data;
  if (!d->closed) decoder_free(d);
  free(d);
}

static napi_value open_decoder(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], promise, handle;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Job *j = calloc(1, sizeof *j);
  Decoder *d = calloc(1, sizeof *d);
  j->d = d;
  j->path = string_arg(env, argv[0]);
  d->chain = string_arg(env, argv[1]);
  d->out_w = (int)number_arg(env, argv[2]);
  d->out_h = (int)number_arg(env, argv[3]);
  j->threads = (int)number_arg(env, argv[4]);
  j->timeout_ms = number_arg(env, argv[5]);
  const double max_pixels = argc >= 7 ? number_arg(env, argv[6]) : 0;
  j->max_pixels = max_pixels >= 1 && max_pixels < 9e18 ? (int64_t)max_pixels : 0;
  if (argc < 6 || !j->path || !d->chain || !(d->out_w > 0 && d->out_h > 0) || !(j->threads >= 0) || !(j->timeout_ms > 0)) {
    free(j->path);
    free(d->chain);
    free(d);
    free(j);
    napi_throw_type_error(env, NULL, "open(path: string, chain: string, width > 0, height > 0, threads >= 0, timeoutMs > 0[, maxPixels])");
    return NULL;
  }
  CHECK(env, napi_create_external(env, d, finalize_decoder, NULL, &handle));
  CHECK(env, napi_create_reference(env, handle, 1, &j->handle_ref));
  d->busy = 1;
  CHECK(env, napi_create_promise(env, &j->deferred, &promise));
  CHECK(env, napi_create_async_work(env, NULL, str(env, "winnow.video.open"), open_execute, open_complete, j, &j->work));
  CHECK(env, napi_queue_async_work(env, j->work));
  return promise;
}

static Decoder *decoder_arg(napi_env env, napi_value v) {
  void *d = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &d) != napi_ok) return NULL;
  return d;
}

static napi_value read_frames(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise;
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Decoder *d = argc == 3 ? decoder_arg(env, argv[0]) : NULL;
  void *buf = NULL;
  size_t len = 0;
  bool is_buffer = false;
  if (d) napi_is_buffer(env, argv[1], &is_buffer);
  if (is_buffer) napi_get_buffer_info(env, argv[1], &buf, &len);
  const double max = argc == 3 ? number_arg(env, argv[2]) : NAN;
  const size_t frame = d ? (size_t)d->out_w * d->out_h * 3 : 0;
  if (!d || !is_buffer || !(max >= 1) || (size_t)max * frame > len) {
    napi_throw_type_error(env, NULL, "read(decoder, buffer of max × width × height × 3 bytes, max >= 1)");
    return NULL;
  }
  if (d->closed || d->busy) {
    napi_throw_error(env, NULL, d->closed ? "read: the decoder is closed" : "read: the decoder is busy (await the last read)");
    return NULL;
  }
  Job *j = calloc(1, sizeof *j);
  j->d = d;
  j->out = buf;
  j->max = (int)max;
  CHECK(env, napi_create_reference(env, argv[0], 1, &j->handle_ref));
  CHECK(env, napi_create_reference(env, argv[1], 1, &j->buffer_ref));
  d->busy = 1;
  CHECK(env, napi_create_promise(env, &j->deferred, &promise));
  CHECK(env, napi_create_async_work(env, NULL, str(env, "winnow.video.read"), read_execute, read_complete, j, &j->work));
  CHECK(env, napi_queue_async_work(env, j->work));
  return promise;
}

/** close(decoder): frees its libav state now (the handle's finalizer would, later). Not while a call runs. */
static napi_value close_decoder(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  Decoder *d = argc == 1 ? decoder_arg(env, argv[0]) : NULL;
  if (!d) {
    napi_throw_type_error(env, NULL, "close(decoder)");
    return NULL;
  }
  if (d->busy) {
    napi_throw_error(env, NULL, "close: the decoder is busy (await the last read)");
    return NULL;
  }
  if (!d->closed) decoder_free(d);
  return NULL;
}

static napi_value versions(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o;
  napi_create_object(env, &o);
  set(env, o, "libavformat", str(env, AV_STRINGIFY(LIBAVFORMAT_VERSION)));
  set(env, o, "libavcodec", str(env, AV_STRINGIFY(LIBAVCODEC_VERSION)));
  set(env, o, "libavfilter", str(env, AV_STRINGIFY(LIBAVFILTER_VERSION)));
  return o;
}

static napi_value init(napi_env env, napi_value exports) {
  av_log_set_callback(log_callback);
  napi_property_descriptor props[] = {
    {"probe", NULL, probe, NULL, NULL, NULL, napi_default, NULL},
    {"open", NULL, open_decoder, NULL, NULL, NULL, napi_default, NULL},
    {"read", NULL, read_frames, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, close_decoder, NULL, NULL, NULL, napi_default, NULL},
    {"versions", NULL, versions, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof *props, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
