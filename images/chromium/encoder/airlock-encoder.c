/*
 * airlock-encoder: the video encoder of the Chromium workspace.
 *
 * The agent is a static Go binary (CGO_ENABLED=0), so it cannot link
 * libvpx or libx264; it runs this helper instead and talks to it over
 * stdin/stdout, one frame in, one packet out (see internal/encoder for the
 * other side and the wire format). Strictly synchronous: no frame is ever
 * queued, because in remote browsing a late frame is worth nothing.
 *
 *   airlock-encoder -codec vp8|h264 -fps 30 -bitrate 2500 -threads 2
 *
 * Exit status: 0 on EOF at a frame boundary, 1 on a protocol or encoder
 * error, 2 on bad arguments; the reason is always on stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>

#include <libyuv/convert.h>
#include <vpx/vp8cx.h>
#include <vpx/vpx_encoder.h>
#include <x264.h>

#define REQ_HDR 32
#define RESP_HDR 24
#define MAX_DIM 4096
/* Room for a cropped capture of a wider screen, small enough that
 * stride*height cannot overflow or ask for an absurd buffer. */
#define MAX_STRIDE 65536
#define FLAG_KEYFRAME 1u
/* Encode the previous frame's image again, sent without pixels: the
 * keep-alive of a still screen, for a fraction of a full frame's cost. */
#define FLAG_REPEAT 2u
/* The pixels are not sent: a u32 SysV shared memory id follows the header,
 * and the frame is at the start of that segment (the agent's MIT-SHM
 * capture buffer, in the same container). Saves two copies of every frame
 * through the pipe. */
#define FLAG_SHM 4u

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("airlock-encoder: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

static uint32_t get32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }

static void put32(uint8_t *p, uint32_t v) {
	for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * BGRX -> I420 is libyuv's ARGBToI420 (libyuv's "ARGB" is B, G, R, A in
 * memory): BT.601 limited range, the matrix browsers assume for WebRTC
 * video without colour metadata, with the SIMD rows the CPU offers picked
 * at run time. At 1920x1080 the conversion was a third of a frame's CPU
 * with plain C rows (9 of 26 ms); libyuv's AVX2 rows take about 2.5.
 */
static void bgrx_to_i420(const uint8_t *src, int stride, int w, int h, uint8_t *y, int ys, uint8_t *u, int us,
			 uint8_t *v, int vs) {
	if (ARGBToI420(src, stride, y, ys, u, us, v, vs, w, h)) die(1, "convert a %dx%d frame: refused", w, h);
}

struct options {
	int h264, fps, kbps, threads;
};

/* Grow-only buffer: after the first frames of a size no more allocations. */
struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void reserve(struct buf *b, size_t n) {
	if (n <= b->cap) return;
	uint8_t *p = realloc(b->p, n);
	if (!p) die(1, "out of memory (%zu bytes)", n);
	b->p = p;
	b->cap = n;
}

struct enc {
	const struct options *o;
	int w, h, kbps, open;
	vpx_codec_ctx_t vpx;
	vpx_codec_enc_cfg_t vcfg;
	vpx_image_t vimg;
	x264_t *x264;
	x264_param_t xp;
	x264_picture_t xpic;
	struct buf out;
	int key;
};

static void vpx_fail(struct enc *e, const char *what) {
	const char *detail = vpx_codec_error_detail(&e->vpx);
	die(1, "vp8: %s: %s%s%s", what, vpx_codec_error(&e->vpx), detail ? ": " : "", detail ? detail : "");
}

static void vp8_open(struct enc *e) {
	vpx_codec_enc_cfg_t *c = &e->vcfg;
	if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), c, 0)) die(1, "vp8: no default config");
	c->g_w = e->w;
	c->g_h = e->h;
	c->g_timebase.num = 1;
	c->g_timebase.den = 1000;
	c->g_threads = e->o->threads;
	c->g_pass = VPX_RC_ONE_PASS;
	c->g_lag_in_frames = 0;
	/* A lost packet must not poison every later frame: no cross-frame
	 * probability updates. */
	c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = e->kbps;
	/* A frame is worth nothing once late: never drop to save bits, and
	 * keep the buffer (the latency the rate control may build up) short. */
	c->rc_dropframe_thresh = 0;
	c->rc_buf_initial_sz = 300;
	c->rc_buf_optimal_sz = 400;
	c->rc_buf_sz = 500;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_min_quantizer = 4;
	c->rc_max_quantizer = 56;
	/* The agent asks for keyframes (new viewer, PLI); periodic ones would
	 * only burn bandwidth on a mostly static screen. */
	c->kf_mode = VPX_KF_DISABLED;
	if (vpx_codec_enc_init(&e->vpx, vpx_codec_vp8_cx(), c, 0)) vpx_fail(e, "init");
	/* Negative: a fixed speed, the fastest (16 of 16). A positive value
	 * makes libvpx pick the speed from a CPU budget derived from frame
	 * timing, which the agent's irregular capture (only when the screen
	 * changes) would mislead. A 720p frame in which every pixel changes
	 * took 13 ms of CPU at speed 10 and 11 ms at 16 (bench/stream's
	 * animation; a page of text a fraction of that), for the same bitrate:
	 * under a full-screen animation the encoder is most of a session's CPU,
	 * and frames per second is what the user sees. */
	if (vpx_codec_control(&e->vpx, VP8E_SET_CPUUSED, -16)) vpx_fail(e, "cpuused");
	/* Browser pages are text and flat areas, not camera noise. */
	if (vpx_codec_control(&e->vpx, VP8E_SET_SCREEN_CONTENT_MODE, 1)) vpx_fail(e, "screen content");
	/* No static threshold (libvpx's encode breakout; 0 is its default,
	 * set here to say so). With one, a block whose prediction error is
	 * under it is skipped rather than refined, which makes a frame of
	 * small changes cheap (a blinking caret on a 1280x720 page of text:
	 * 500 bytes instead of 2.9 KB, about 4 ms instead of 7); but once any
	 * frame has been coded with it, libvpx's real-time mode decision no
	 * longer predicts a block that changed as a whole anew and codes it as
	 * its old content plus a residual: a screen turning from one flat
	 * colour to another (a click that repaints a page, a new page, another
	 * tab) took 30 KB at 1280x720 and 66 KB at 1920x1080 instead of about
	 * 100 bytes, and 10 to 15 ms more to encode, where the user waits for
	 * it. Skipping the unchanged blocks with an active map instead does
	 * the same harm, and so does any threshold from 1 up. The price is
	 * CPU where little changes or everything moves: the caret frame above,
	 * a still screen's keep-alive (a 1080p page of text: 10 ms instead of
	 * 5, every 2 s), and up to a fifth more for full motion and scrolling
	 * (two runs of each: 1080p animation +1 % and +19 %, 720p scrolling
	 * +6 %), whose frames came out smaller (animation 6-8 KB instead of
	 * 10) or the same. */
	if (vpx_codec_control(&e->vpx, VP8E_SET_STATIC_THRESHOLD, 0)) vpx_fail(e, "static threshold");
	/* Aim a keyframe at what the buffer can drain (libwebrtc's rule), so a
	 * forced keyframe of a page of text stalls the stream as little as the
	 * quantizer range allows. */
	unsigned intra = c->rc_buf_optimal_sz / 2 * e->o->fps / 10;
	if (vpx_codec_control(&e->vpx, VP8E_SET_MAX_INTRA_BITRATE_PCT, intra < 300 ? 300 : intra))
		vpx_fail(e, "max intra bitrate");
	if (!vpx_img_alloc(&e->vimg, VPX_IMG_FMT_I420, e->w, e->h, 32)) die(1, "vp8: out of memory");
}

static void vp8_encode(struct enc *e, const uint8_t *pix, int stride, uint64_t pts, int force) {
	vpx_image_t *im = &e->vimg;
	if (pix) /* NULL: the image is the previous frame's, as it stands */
		bgrx_to_i420(pix, stride, e->w, e->h, im->planes[0], im->stride[0], im->planes[1],
			     im->stride[1], im->planes[2], im->stride[2]);
	if (vpx_codec_encode(&e->vpx, im, (vpx_codec_pts_t)pts, 1000 / e->o->fps, force ? VPX_EFLAG_FORCE_KF : 0,
			     VPX_DL_REALTIME))
		vpx_fail(e, "encode");
	const vpx_codec_cx_pkt_t *pkt;
	vpx_codec_iter_t it = NULL;
	while ((pkt = vpx_codec_get_cx_data(&e->vpx, &it))) {
		if (pkt->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		/* One frame per call with lag 0, but appending costs nothing. */
		reserve(&e->out, e->out.len + pkt->data.frame.sz);
		memcpy(e->out.p + e->out.len, pkt->data.frame.buf, pkt->data.frame.sz);
		e->out.len += pkt->data.frame.sz;
		e->key |= (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
	}
}

static void vp8_rate(struct enc *e) {
	e->vcfg.rc_target_bitrate = e->kbps;
	if (vpx_codec_enc_config_set(&e->vpx, &e->vcfg)) vpx_fail(e, "set bitrate");
}

static void x264_rc(x264_param_t *p, int kbps) {
	/* ABR capped by a half-second VBV: CBR in practice, without the filler
	 * data a strict CBR would send over a static screen. */
	p->rc.i_rc_method = X264_RC_ABR;
	p->rc.i_bitrate = kbps;
	p->rc.i_vbv_max_bitrate = kbps;
	p->rc.i_vbv_buffer_size = kbps / 2 > 1 ? kbps / 2 : 1;
}

static void h264_open(struct enc *e) {
	x264_param_t *p = &e->xp;
	/* veryfast rather than ultrafast: it keeps the deblocking filter and
	 * a real motion search, which text and scrolling need, for ~7 ms a
	 * 720p frame on one core (ultrafast: ~3). zerolatency: no B-frames,
	 * no lookahead, slice threads; each frame comes out of its own call. */
	if (x264_param_default_preset(p, "veryfast", "zerolatency") < 0) die(1, "h264: bad preset");
	p->i_width = e->w;
	p->i_height = e->h;
	p->i_csp = X264_CSP_I420;
	p->i_threads = e->o->threads;
	p->i_fps_num = e->o->fps;
	p->i_fps_den = 1;
	/* Rate control counts frames at -fps, not timestamps: VFR input would
	 * hold every frame back until the next one arrives to learn its
	 * duration. With the agent capturing only on change that undershoots,
	 * never overshoots. */
	p->b_vfr_input = 0;
	p->i_timebase_num = 1;
	p->i_timebase_den = 1000;
	p->i_keyint_max = X264_KEYINT_MAX_INFINITE;
	p->i_scenecut_threshold = 0; /* keyframes only when asked for */
	/* Every IDR self-contained: a viewer joining mid-stream decodes from it. */
	p->b_repeat_headers = 1;
	p->b_annexb = 1;
	p->i_log_level = X264_LOG_WARNING;
	x264_rc(p, e->kbps);
	/* Browsers negotiate constrained baseline (42e01f): no CABAC, no B. */
	if (x264_param_apply_profile(p, "baseline") < 0) die(1, "h264: baseline profile refused");
	if (!(e->x264 = x264_encoder_open(p))) die(1, "h264: cannot open encoder for %dx%d", e->w, e->h);
	if (x264_picture_alloc(&e->xpic, X264_CSP_I420, e->w, e->h) < 0) die(1, "h264: out of memory");
}

static void h264_encode(struct enc *e, const uint8_t *pix, int stride, uint64_t pts, int force) {
	x264_image_t *im = &e->xpic.img;
	if (pix) /* NULL: the image is the previous frame's, as it stands */
		bgrx_to_i420(pix, stride, e->w, e->h, im->plane[0], im->i_stride[0], im->plane[1],
			     im->i_stride[1], im->plane[2], im->i_stride[2]);
	e->xpic.i_type = force ? X264_TYPE_IDR : X264_TYPE_AUTO;
	e->xpic.i_pts = (int64_t)pts;
	x264_nal_t *nal;
	int n;
	x264_picture_t out;
	int size = x264_encoder_encode(e->x264, &nal, &n, &e->xpic, &out);
	if (size < 0) die(1, "h264: encode failed");
	if (size == 0) return;
	/* x264 lays the NALs out back to back: one access unit, one copy. */
	reserve(&e->out, (size_t)size);
	memcpy(e->out.p, nal[0].p_payload, (size_t)size);
	e->out.len = (size_t)size;
	e->key = out.b_keyframe;
}

static void h264_rate(struct enc *e) {
	x264_param_t p;
	x264_encoder_parameters(e->x264, &p);
	x264_rc(&p, e->kbps);
	if (x264_encoder_reconfig(e->x264, &p) < 0) die(1, "h264: bitrate %d kbit/s refused", e->kbps);
}

static void enc_close(struct enc *e) {
	if (!e->open) return;
	if (e->o->h264) {
		x264_encoder_close(e->x264);
		x264_picture_clean(&e->xpic);
	} else {
		vpx_codec_destroy(&e->vpx);
		vpx_img_free(&e->vimg);
	}
	e->open = 0;
}

static int number(const char *name, const char *s, int lo, int hi) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi) {
		fprintf(stderr, "airlock-encoder: -%s %s: want an integer in [%d, %d]\n", name, s, lo, hi);
		exit(2);
	}
	return (int)v;
}

static void usage(const char *why, const char *flag) {
	fprintf(stderr, "airlock-encoder: %s%s\nusage: airlock-encoder -codec vp8|h264 -fps N -bitrate KBPS -threads N\n",
		why, flag);
	exit(2);
}

static void parse(int argc, char **argv, struct options *o) {
	*o = (struct options){.fps = 30, .kbps = 2500, .threads = 2};
	for (int i = 1; i < argc; i += 2) {
		const char *f = argv[i];
		if (f[0] == '-' && f[1] == '-') f++; /* Go's flag package accepts both */
		if (i + 1 >= argc) usage("missing value after ", argv[i]);
		const char *v = argv[i + 1];
		if (!strcmp(f, "-codec")) {
			if (!strcmp(v, "vp8")) o->h264 = 0;
			else if (!strcmp(v, "h264")) o->h264 = 1;
			else usage("-codec: want vp8 or h264, not ", v);
		} else if (!strcmp(f, "-fps")) o->fps = number("fps", v, 1, 240);
		else if (!strcmp(f, "-bitrate")) o->kbps = number("bitrate", v, 10, 1000000);
		else if (!strcmp(f, "-threads")) o->threads = number("threads", v, 1, 64);
		else usage("unknown flag ", argv[i]);
	}
}

/* The segment of the last shared frame, attached read-only until a frame
 * names another (the agent's capture makes a new one when the screen's
 * size changes). */
struct shmseg {
	int id;
	const uint8_t *p;
	size_t size;
};

static const uint8_t *shm_pixels(struct shmseg *s, int id, size_t need, unsigned long long n) {
	if (!s->p || s->id != id) {
		if (s->p) shmdt(s->p);
		s->p = NULL;
		struct shmid_ds ds;
		if (shmctl(id, IPC_STAT, &ds)) die(1, "frame %llu: shared memory %d: %s", n, id, strerror(errno));
		void *p = shmat(id, NULL, SHM_RDONLY);
		if (p == (void *)-1) die(1, "frame %llu: attach shared memory %d: %s", n, id, strerror(errno));
		s->id = id;
		s->p = p;
		s->size = ds.shm_segsz;
	}
	if (need > s->size)
		die(1, "frame %llu: %zu bytes of pixels, but shared memory %d holds %zu", n, need, id, s->size);
	return s->p;
}

/* Reads exactly n bytes; returns 0 on EOF before the first byte. */
static int read_full(uint8_t *p, size_t n, const char *what) {
	size_t got = fread(p, 1, n, stdin);
	if (got == n) return 1;
	if (ferror(stdin)) die(1, "read %s: %s", what, strerror(errno));
	if (got == 0) return 0;
	die(1, "truncated %s: %zu of %zu bytes", what, got, n);
}

int main(int argc, char **argv) {
	struct options o;
	parse(argc, argv, &o);
	struct enc e = {.o = &o, .kbps = o.kbps};
	struct buf pix = {0};
	struct shmseg seg = {0};
	uint8_t h[REQ_HDR], r[RESP_HDR] = {'A', 'P', 'K', 'T'};
	for (uint64_t n = 0;; n++) {
		if (!read_full(h, REQ_HDR, "frame header")) break;
		if (memcmp(h, "AFRM", 4))
			die(1, "frame %llu: bad magic %02x%02x%02x%02x", (unsigned long long)n, h[0], h[1], h[2], h[3]);
		uint32_t flags = get32(h + 4), w = get32(h + 8), ht = get32(h + 12), stride = get32(h + 16);
		uint32_t kbps = get32(h + 20);
		uint64_t pts = get64(h + 24);
		if (flags & ~(FLAG_KEYFRAME | FLAG_REPEAT | FLAG_SHM))
			die(1, "frame %llu: unknown flags %#x", (unsigned long long)n, flags);
		int repeat = (flags & FLAG_REPEAT) != 0, shared = (flags & FLAG_SHM) != 0;
		if (repeat && shared) die(1, "frame %llu: a repeat has no pixels to share", (unsigned long long)n);
		if (!w || !ht || w > MAX_DIM || ht > MAX_DIM || w % 2 || ht % 2)
			die(1, "frame %llu: bad size %ux%u (even, 2..%d)", (unsigned long long)n, w, ht, MAX_DIM);
		if (stride < 4 * w || stride > MAX_STRIDE || stride % 4)
			die(1, "frame %llu: bad stride %u for width %u", (unsigned long long)n, stride, w);
		if (kbps && (kbps < 10 || kbps > 1000000))
			die(1, "frame %llu: bad bitrate %u kbit/s", (unsigned long long)n, kbps);
		if (repeat && (!e.open || (uint32_t)e.w != w || (uint32_t)e.h != ht))
			die(1, "frame %llu: repeat of a %ux%u frame, but the last frame was %dx%d",
			    (unsigned long long)n, w, ht, e.open ? e.w : 0, e.open ? e.h : 0);
		const uint8_t *src = NULL;
		if (shared) {
			uint8_t id[4];
			if (!read_full(id, 4, "shared memory id"))
				die(1, "frame %llu: no shared memory id after the header", (unsigned long long)n);
			src = shm_pixels(&seg, (int)get32(id), (size_t)stride * ht, (unsigned long long)n);
		} else if (!repeat) {
			size_t size = (size_t)stride * ht;
			reserve(&pix, size);
			if (!read_full(pix.p, size, "frame pixels"))
				die(1, "frame %llu: no pixels after the header", (unsigned long long)n);
			src = pix.p;
		}

		if (e.open && ((uint32_t)e.w != w || (uint32_t)e.h != ht)) enc_close(&e);
		if (kbps && (int)kbps != e.kbps) {
			e.kbps = (int)kbps;
			if (e.open && o.h264) h264_rate(&e);
			else if (e.open) vp8_rate(&e);
		}
		if (!e.open) {
			e.w = (int)w;
			e.h = (int)ht;
			if (o.h264) h264_open(&e);
			else vp8_open(&e);
			e.open = 1;
		}
		e.out.len = 0;
		e.key = 0;
		int force = (flags & FLAG_KEYFRAME) != 0;
		if (o.h264) h264_encode(&e, src, (int)stride, pts, force);
		else vp8_encode(&e, src, (int)stride, pts, force);

		put32(r + 4, e.key && e.out.len ? FLAG_KEYFRAME : 0);
		put32(r + 8, (uint32_t)e.out.len);
		put32(r + 12, 0);
		memcpy(r + 16, h + 24, 8); /* the pts, as it came */
		if (fwrite(r, 1, RESP_HDR, stdout) != RESP_HDR ||
		    (e.out.len && fwrite(e.out.p, 1, e.out.len, stdout) != e.out.len) || fflush(stdout))
			die(1, "write packet: %s", strerror(errno));
	}
	enc_close(&e);
	if (seg.p) shmdt(seg.p);
	free(e.out.p);
	free(pix.p);
	return 0;
}
