// The libav* alternative to the ffmpeg CLI pipe, for bench/video-decode.ts only (not in the product):
// decodes the first video stream of a file with libavcodec and squashes each frame to S×S rgb24 with
// libswscale in the same steps as src/data/video/frames.ts (bilinear to at most ~3S×3S keeping the
// frame's pixel format, unscaled to rgb24, lanczos3 to S×S gbrp, unscaled to rgb24), in process. Prints "frames=<n> sum=<byte sum of all frames>" so the output
// can be checked against the CLI's. With S=0 it only decodes (the `ffmpeg -f null` equivalent).
//   cc -O2 -o video-libav video-libav.c $(pkg-config --cflags --libs libavformat libavcodec libswscale libavutil)
//   ./video-libav <file> <S> <threads>
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, int err) {
  char msg[256];
  av_strerror(err, msg, sizeof msg);
  fprintf(stderr, "%s: %s\n", what, msg);
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 4) return fprintf(stderr, "usage: %s <file> <S> <threads>\n", argv[0]), 2;
  const int S = atoi(argv[2]);
  AVFormatContext *fmt = NULL;
  int err = avformat_open_input(&fmt, argv[1], NULL, NULL);
  if (err < 0) return fail("open", err);
  if ((err = avformat_find_stream_info(fmt, NULL)) < 0) return fail("stream info", err);
  const AVCodec *codec = NULL;
  const int vs = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (vs < 0) return fail("video stream", vs);
  AVCodecContext *dec = avcodec_alloc_context3(codec);
  avcodec_parameters_to_context(dec, fmt->streams[vs]->codecpar);
  dec->thread_count = atoi(argv[3]); // 0: as many as cores (what the CLI's -threads 0 does)
  dec->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
  if ((err = avcodec_open2(dec, codec, NULL)) < 0) return fail("decoder", err);

  AVPacket *pkt = av_packet_alloc();
  AVFrame *frame = av_frame_alloc();
  struct SwsContext *pre = NULL, *rgb = NULL, *fin = NULL, *pack = NULL;
  uint8_t *yuv[4], *mid[4], *planar[4], *out[4];
  int yuvLs[4], midLs[4], planarLs[4], outLs[4], pw = 0, ph = 0;
  long frames = 0;
  unsigned long long sum = 0;
  for (int flushing = 0;;) {
    if (!flushing) {
      err = av_read_frame(fmt, pkt);
      if (err < 0) flushing = 1;
      else if (pkt->stream_index != vs) { av_packet_unref(pkt); continue; }
      err = avcodec_send_packet(dec, flushing ? NULL : pkt);
      av_packet_unref(pkt);
    }
    while ((err = avcodec_receive_frame(dec, frame)) >= 0) {
      frames++;
      if (S > 0) {
        if (!pre) { // sized on the first frame, like the filter graph
          int P = 3 * S; // preShrinkWidth in frames.ts: 3S rounded up to even, +4 when a multiple of 16
          P += P % 2;
          if (P % 16 == 0) P += 4;
          pw = frame->width < P ? frame->width : P;
          ph = frame->height < P ? frame->height : P;
          pre = sws_getContext(frame->width, frame->height, frame->format, pw, ph, frame->format, SWS_BILINEAR, NULL, NULL, NULL);
          rgb = sws_getContext(pw, ph, frame->format, pw, ph, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
          double lanczos3[2] = {3, 0};
          fin = sws_getContext(pw, ph, AV_PIX_FMT_RGB24, S, S, AV_PIX_FMT_GBRP, SWS_LANCZOS, NULL, NULL, lanczos3);
          pack = sws_getContext(S, S, AV_PIX_FMT_GBRP, S, S, AV_PIX_FMT_RGB24, SWS_BICUBIC, NULL, NULL, NULL);
          av_image_alloc(yuv, yuvLs, pw, ph, frame->format, 16);
          av_image_alloc(mid, midLs, pw, ph, AV_PIX_FMT_RGB24, 16);
          av_image_alloc(planar, planarLs, S, S, AV_PIX_FMT_GBRP, 16);
          av_image_alloc(out, outLs, S, S, AV_PIX_FMT_RGB24, 16);
        }
        sws_scale(pre, (const uint8_t *const *)frame->data, frame->linesize, 0, frame->height, yuv, yuvLs);
        sws_scale(rgb, (const uint8_t *const *)yuv, yuvLs, 0, ph, mid, midLs);
        sws_scale(fin, (const uint8_t *const *)mid, midLs, 0, ph, planar, planarLs);
        sws_scale(pack, (const uint8_t *const *)planar, planarLs, 0, S, out, outLs);
        for (int y = 0; y < S; y++)
          for (int x = 0; x < 3 * S; x++) sum += out[0][y * outLs[0] + x];
      }
      av_frame_unref(frame);
    }
    if (err == AVERROR_EOF) break;
    if (err != AVERROR(EAGAIN)) return fail("decode", err);
  }
  printf("frames=%ld sum=%llu\n", frames, sum);
  return 0;
}
