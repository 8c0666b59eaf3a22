// For bench/video-squash.ts: the CPU of swscale chains alone, in process, on decoded 1080p frames
// held in memory (no decoder, no filter graph), so that a difference of 0.1 ms a frame shows on a
// shared machine where whole ffmpeg runs vary by more: min over rounds of the thread CPU time per
// frame. The chains are those of src/data/video/frames.ts (now and before) and their parts.
//   cc -O2 -o video-squash-sws video-squash-sws.c $(pkg-config --cflags --libs libavformat libavcodec libswscale libavutil)
//   ./video-squash-sws <file> <S> <rounds>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NF 24 /* frames decoded once and reused */
typedef struct { int w, h, fmt, flags; } Stage; /* fmt -1: the decoded frame's own */
typedef struct { const char *name; int n; Stage st[4]; } Chain;

static double cpu(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/** frames.ts preShrinkWidth: 3S rounded up to even, +4 when a multiple of 16. */
static int preWidth(int S) {
  int p = 3 * S;
  p += p % 2;
  if (p % 16 == 0) p += 4;
  return p;
}

int main(int argc, char **argv) {
  if (argc != 4) return fprintf(stderr, "usage: %s <file> <S> <rounds>\n", argv[0]), 2;
  const int S = atoi(argv[2]), rounds = atoi(argv[3]), P = preWidth(S), P3 = 3 * S;
  AVFormatContext *fmt = NULL;
  if (avformat_open_input(&fmt, argv[1], NULL, NULL) < 0 || avformat_find_stream_info(fmt, NULL) < 0) return fprintf(stderr, "cannot open %s\n", argv[1]), 1;
  const AVCodec *codec = NULL;
  const int vs = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (vs < 0) return fprintf(stderr, "no video stream\n"), 1;
  AVCodecContext *dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, fmt->streams[vs]->codecpar);
  dec->thread_count = 1;
  if (avcodec_open2(dec, codec, NULL) < 0) return fprintf(stderr, "no decoder\n"), 1;
  AVFrame *frames[NF], *f = av_frame_alloc();
  AVPacket *pkt = av_packet_alloc();
  int n = 0;
  while (n < NF && av_read_frame(fmt, pkt) >= 0) {
    if (pkt->stream_index == vs && avcodec_send_packet(dec, pkt) >= 0)
      while (n < NF && avcodec_receive_frame(dec, f) >= 0) frames[n++] = av_frame_clone(f), av_frame_unref(f);
    av_packet_unref(pkt);
  }
  if (n == 0) return fprintf(stderr, "no frames decoded\n"), 1;
  const int W = frames[0]->width, H = frames[0]->height, RGB = AV_PIX_FMT_RGB24, GBRP = AV_PIX_FMT_GBRP, OWN = -1;
  const int BIL = SWS_BILINEAR, LZ = SWS_LANCZOS, COPY = SWS_BICUBIC; /* COPY: unscaled conversions (flags unused) */
  const Chain chains[] = {
    {"shipped: bilinear to ~3S keeping YUV, rgb24, lanczos3 to gbrp, rgb24", 4, {{P, P, OWN, BIL}, {P, P, RGB, COPY}, {S, S, GBRP, LZ}, {S, S, RGB, COPY}}},
    {"before: bilinear to 3S in rgb24, lanczos3 to rgb24", 2, {{P3, P3, RGB, BIL}, {S, S, RGB, LZ}}},
    {"bilinear to ~3S keeping YUV, rgb24, lanczos3 to rgb24", 3, {{P, P, OWN, BIL}, {P, P, RGB, COPY}, {S, S, RGB, LZ}}},
    {"bilinear to 3S in rgb24, lanczos3 to gbrp, rgb24", 3, {{P3, P3, RGB, BIL}, {S, S, GBRP, LZ}, {S, S, RGB, COPY}}},
    {"part: bilinear to ~3S keeping YUV", 1, {{P, P, OWN, BIL}}},
    {"part: bilinear to 3S in rgb24", 1, {{P3, P3, RGB, BIL}}},
    {"part: area to ~3S keeping YUV", 1, {{P, P, OWN, SWS_AREA}}},
    {"width 16k: bilinear to 192x192 keeping YUV", 1, {{192, 192, OWN, BIL}}},
    {"width 16k+4: bilinear to 196x196 keeping YUV", 1, {{196, 196, OWN, BIL}}},
  };
  const int NC = sizeof chains / sizeof chains[0];
  double best[sizeof chains / sizeof chains[0]];
  for (int c = 0; c < NC; c++) best[c] = 1e9;
  double lanczos3[2] = {3, 0};
  for (int r = 0; r < rounds; r++) {
    for (int c = 0; c < NC; c++) {
      struct SwsContext *ctx[4];
      AVFrame *out[4];
      int sw = W, sh = H, sf = frames[0]->format;
      for (int k = 0; k < chains[c].n; k++) {
        const Stage s = chains[c].st[k];
        const int of = s.fmt == OWN ? frames[0]->format : s.fmt;
        ctx[k] = sws_getContext(sw, sh, sf, s.w, s.h, of, s.flags, NULL, NULL, s.flags == LZ ? lanczos3 : NULL);
        out[k] = av_frame_alloc();
        out[k]->width = s.w, out[k]->height = s.h, out[k]->format = of;
        av_frame_get_buffer(out[k], 32);
        sw = s.w, sh = s.h, sf = of;
      }
      const double t0 = cpu();
      for (int i = 0; i < n; i++) {
        const AVFrame *in = frames[i];
        for (int k = 0; k < chains[c].n; k++) {
          sws_scale(ctx[k], (const uint8_t *const *)in->data, in->linesize, 0, in->height, out[k]->data, out[k]->linesize);
          in = out[k];
        }
      }
      const double t = (cpu() - t0) / n;
      if (t < best[c]) best[c] = t;
      for (int k = 0; k < chains[c].n; k++) sws_freeContext(ctx[k]), av_frame_free(&out[k]);
    }
  }
  for (int c = 0; c < NC; c++) printf("%.3f ms a frame: %s\n", best[c] * 1e3, chains[c].name);
  return 0;
}
