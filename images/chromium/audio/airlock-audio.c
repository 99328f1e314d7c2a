/*
 * airlock-audio: the audio encoder of the Chromium workspace.
 *
 * Chromium plays into PulseAudio's null sink "airlock"; this helper
 * records the sink's monitor source (48 kHz stereo), encodes it as Opus
 * and writes the packets on stdout for the agent (internal/audio, which
 * has the wire format), which sends them to the viewer as an RTP track.
 *
 *   airlock-audio [-source airlock.monitor] [-frame 10|20] [-bitrate 96]
 *
 * A still page costs nothing: the record stream does not keep the sink
 * awake (PA_STREAM_DONT_INHIBIT_AUTO_SUSPEND), so once no one plays,
 * module-suspend-on-idle suspends the sink and its monitor and this
 * helper sleeps in poll. A page that holds an audio stream open but plays
 * digital silence gets its frames read and dropped unencoded: silence is
 * sent as nothing at all.
 *
 * Output, per packet, little endian:
 *   "AOPS" u32 size u64 pos, then size bytes of one Opus packet
 * pos is the packet's first sample on a 48 kHz clock that starts at 0:
 * it advances by one frame per frame read, and jumps ahead by the time
 * the source spent suspended (as the server tells, not guessed from a
 * late read), so that gaps in the packets' positions are gaps in time.
 *
 * Exit status: 0 on EOF on stdin (the agent's way to stop it), 1 when the
 * server or the encoder fails, 2 on bad arguments; the reason is on
 * stderr.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <opus/opus.h>
#include <pulse/pulseaudio.h>

#define RATE 48000
#define CHANNELS 2
#define MAX_FRAME (RATE / 50) /* 20 ms */
#define MAX_PACKET 4000       /* libopus's recommended output buffer */
#define HDR 16
/* A frame whose every sample is within this of zero is silence. */
#define SILENT 1

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("airlock-audio: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(status);
}

static struct {
	const char *source;
	int frame; /* samples per channel per packet */
	OpusEncoder *enc;
	pa_mainloop *loop;
	int16_t pcm[MAX_FRAME * CHANNELS];
	int filled; /* samples per channel in pcm */
	uint64_t pos;
	uint64_t start_us;
	int gap;    /* frames were skipped since the last packet */
	int resync; /* the source was suspended: take pos from the wall clock */
} st;

static uint64_t now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void put32(uint8_t *p, uint32_t v) {
	for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void write_all(const uint8_t *p, size_t n) {
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR) continue;
		if (w <= 0) die(1, "write packet: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

static int silent(const int16_t *pcm, int n) {
	for (int i = 0; i < n; i++)
		if (pcm[i] > SILENT || pcm[i] < -SILENT) return 0;
	return 1;
}

/* frame_done encodes and writes the frame in st.pcm, unless it is silent. */
static void frame_done(void) {
	if (st.resync) {
		/* The first frame since the source came back ends about now. */
		uint64_t wall = (now_us() - st.start_us) * RATE / 1000000u;
		if (wall > st.pos + (uint64_t)st.frame) st.pos = wall - (uint64_t)st.frame;
		st.resync = 0;
		st.gap = 1;
	}
	if (silent(st.pcm, st.frame * CHANNELS)) {
		st.gap = 1;
	} else {
		/* After a gap the decoder has concealed the missing frames its own
		 * way: start the encoder afresh instead of from audio it never got. */
		if (st.gap) opus_encoder_ctl(st.enc, OPUS_RESET_STATE);
		st.gap = 0;
		uint8_t pkt[HDR + MAX_PACKET];
		opus_int32 n = opus_encode(st.enc, st.pcm, st.frame, pkt + HDR, MAX_PACKET);
		if (n < 0) die(1, "opus_encode: %s", opus_strerror(n));
		memcpy(pkt, "AOPS", 4);
		put32(pkt + 4, (uint32_t)n);
		put64(pkt + 8, st.pos);
		write_all(pkt, HDR + (size_t)n);
	}
	st.pos += (uint64_t)st.frame;
	st.filled = 0;
}

static void on_read(pa_stream *s, size_t nbytes, void *userdata) {
	(void)nbytes;
	(void)userdata;
	const size_t per = CHANNELS * sizeof(int16_t);
	for (;;) {
		const void *data;
		size_t n;
		if (pa_stream_peek(s, &data, &n) < 0)
			die(1, "read: %s", pa_strerror(pa_context_errno(pa_stream_get_context(s))));
		if (n == 0) return;
		const uint8_t *p = data;
		size_t left = n / per; /* a partial sample is never delivered: s16 stereo frames */
		while (left > 0) {
			size_t take = (size_t)(st.frame - st.filled);
			if (take > left) take = left;
			if (p) {
				memcpy(st.pcm + st.filled * CHANNELS, p, take * per);
				p += take * per;
			} else { /* a hole in the stream: silence */
				memset(st.pcm + st.filled * CHANNELS, 0, take * per);
			}
			st.filled += (int)take;
			left -= take;
			if (st.filled == st.frame) frame_done();
		}
		pa_stream_drop(s);
	}
}

/* on_suspended marks a resume: the time the source was suspended passed
 * without samples, and pos must jump over it. */
static void on_suspended(pa_stream *s, void *userdata) {
	(void)userdata;
	if (pa_stream_is_suspended(s) == 0) st.resync = 1;
}

static void on_stream_state(pa_stream *s, void *userdata) {
	(void)userdata;
	switch (pa_stream_get_state(s)) {
	case PA_STREAM_FAILED:
		die(1, "record %s: %s", st.source, pa_strerror(pa_context_errno(pa_stream_get_context(s))));
	case PA_STREAM_TERMINATED:
		die(1, "record %s: the stream ended", st.source);
	default:
		break;
	}
}

static void on_context_state(pa_context *c, void *userdata) {
	(void)userdata;
	switch (pa_context_get_state(c)) {
	case PA_CONTEXT_READY: {
		pa_sample_spec spec = {.format = PA_SAMPLE_S16LE, .rate = RATE, .channels = CHANNELS};
		pa_stream *s = pa_stream_new(c, "airlock-audio", &spec, NULL);
		if (!s) die(1, "new stream: %s", pa_strerror(pa_context_errno(c)));
		pa_stream_set_state_callback(s, on_stream_state, NULL);
		pa_stream_set_read_callback(s, on_read, NULL);
		pa_stream_set_suspended_callback(s, on_suspended, NULL);
		/* Fragments of one frame: the server sends each frame as soon as
		 * it has it, which is the latency that matters here. */
		pa_buffer_attr attr = {
		    .maxlength = (uint32_t)-1,
		    .tlength = (uint32_t)-1,
		    .prebuf = (uint32_t)-1,
		    .minreq = (uint32_t)-1,
		    .fragsize = (uint32_t)(st.frame * CHANNELS * sizeof(int16_t)),
		};
		pa_stream_flags_t flags = PA_STREAM_ADJUST_LATENCY | PA_STREAM_DONT_INHIBIT_AUTO_SUSPEND;
		if (pa_stream_connect_record(s, st.source, &attr, flags) < 0)
			die(1, "record %s: %s", st.source, pa_strerror(pa_context_errno(c)));
		break;
	}
	case PA_CONTEXT_FAILED:
		die(1, "connect to the sound server: %s", pa_strerror(pa_context_errno(c)));
	case PA_CONTEXT_TERMINATED:
		die(1, "the sound server closed the connection");
	default:
		break;
	}
}

/* on_stdin ends the helper at EOF on stdin: the agent closing its end. */
static void on_stdin(pa_mainloop_api *api, pa_io_event *e, int fd, pa_io_event_flags_t events, void *userdata) {
	(void)e;
	(void)events;
	(void)userdata;
	char buf[256];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
	if (n <= 0) api->quit(api, 0);
}

static int arg_int(const char *name, const char *v, int lo, int hi) {
	char *end;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *v == '\0' || *end != '\0' || n < lo || n > hi) die(2, "%s %s: want %d to %d", name, v, lo, hi);
	return (int)n;
}

int main(int argc, char **argv) {
	st.source = "airlock.monitor";
	int frame_ms = 10, kbps = 96;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) die(2, "%s: missing value", argv[i]);
		if (strcmp(argv[i], "-source") == 0) {
			st.source = argv[++i];
		} else if (strcmp(argv[i], "-frame") == 0) {
			frame_ms = arg_int("-frame", argv[++i], 10, 20);
			if (frame_ms != 10 && frame_ms != 20) die(2, "-frame %d: want 10 or 20", frame_ms);
		} else if (strcmp(argv[i], "-bitrate") == 0) {
			kbps = arg_int("-bitrate", argv[++i], 6, 510);
		} else {
			die(2, "unknown argument %s", argv[i]);
		}
	}
	st.frame = RATE / 1000 * frame_ms;

	int err;
	/* Restricted low delay: CELT only, no SILK lookahead; this is a
	 * browser's sound (music, video, speech), at a bitrate where CELT is
	 * good at all of them. */
	st.enc = opus_encoder_create(RATE, CHANNELS, OPUS_APPLICATION_RESTRICTED_LOWDELAY, &err);
	if (err != OPUS_OK) die(1, "opus encoder: %s", opus_strerror(err));
	opus_encoder_ctl(st.enc, OPUS_SET_BITRATE(kbps * 1000));
	opus_encoder_ctl(st.enc, OPUS_SET_COMPLEXITY(5));

	st.loop = pa_mainloop_new();
	if (!st.loop) die(1, "pa_mainloop_new failed");
	pa_mainloop_api *api = pa_mainloop_get_api(st.loop);
	if (!api->io_new(api, 0, PA_IO_EVENT_INPUT | PA_IO_EVENT_HANGUP, on_stdin, NULL)) die(1, "watch stdin failed");
	pa_context *c = pa_context_new(api, "airlock-audio");
	if (!c) die(1, "pa_context_new failed");
	pa_context_set_state_callback(c, on_context_state, NULL);
	/* The server comes from $PULSE_SERVER; never spawn one of our own. */
	if (pa_context_connect(c, NULL, PA_CONTEXT_NOAUTOSPAWN, NULL) < 0)
		die(1, "connect to the sound server: %s", pa_strerror(pa_context_errno(c)));
	st.start_us = now_us();
	st.resync = 1; /* the source may have been suspended since before we came */
	int ret = 0;
	if (pa_mainloop_run(st.loop, &ret) < 0) die(1, "main loop failed");
	return ret;
}
