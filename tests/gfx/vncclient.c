/* A VNC client for the gfx tests, on libvncclient: connects to bhyve's fbuf
 * (host:port or a UNIX socket path), optionally checks the test guest's
 * pattern (tests/guest/gfx.inc) in a 640x480 desktop, and sends a key.
 *
 *   vncclient [-P password] [-e encodings] [-p] [-k keysym[,keysym...]] [-d ms] [-t seconds] ADDRESS
 *     -e   the encodings to ask for, best first ("raw", "zlib", "tight", "zrle"...);
 *          JPEG is never asked for, so every one of them must be exact
 *     -p   wait for the guest's pattern (and the 640x480 desktop)
 *     -k   press and release keysym (hex) afterwards; several, comma-separated,
 *          one after another (at most 16)
 *     -d   wait ms milliseconds before each key of -k (default 0)
 *     -m   move the pointer to (100, 100), then to (110, 95) with the left
 *          button down
 *     -i   after the pattern, stay s seconds asking for updates and print how
 *          many rectangles and pixels came (an idle screen: none)
 *     -s   save the first whole picture to FILE as a PPM (P6), every pixel
 *          doubled both ways (OCR reads a 9x16 text font better larger)
 *     -M   measure (tests/bench/gfx.sh): once the first whole picture came,
 *          for s seconds ask for the next incremental update as soon as one
 *          is complete, and print the updates (frames), rectangles, pixels
 *          and bytes received (TCP only: the kernel's count for the socket)
 * Exit status: 0 done; 1 usage; 2 connection or authentication refused;
 * 3 the pattern did not appear in time. */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <rfb/rfbclient.h>

static const char *password;
static bool update_done;
static long rects, pixels, frames;

static char *get_password(rfbClient *cl)
{
	(void)cl;
	return strdup(password != NULL ? password : "");
}

static void got_update(rfbClient *cl, int x, int y, int w, int h)
{
	(void)cl;
	(void)x;
	(void)y;
	rects++;
	pixels += (long)w * h;
}

static void finished_update(rfbClient *cl)
{
	(void)cl;
	update_done = true;
	frames++;
}

static void quiet(const char *fmt, ...)
{
	(void)fmt;
}

/* The pixel at (x, y) as 0x00RRGGBB, in the client's format. */
static uint32_t pixel_at(rfbClient *cl, int x, int y)
{
	uint32_t p;

	memcpy(&p, cl->frameBuffer + ((size_t)y * (size_t)cl->width + (size_t)x) * 4, 4);
	return ((p >> cl->format.redShift) & 0xff) << 16 |
	    ((p >> cl->format.greenShift) & 0xff) << 8 | ((p >> cl->format.blueShift) & 0xff);
}

static bool save_ppm(rfbClient *cl, const char *path)
{
	FILE *f = fopen(path, "wb");
	bool ok;

	if (f == NULL)
		return false;
	fprintf(f, "P6\n%d %d\n255\n", cl->width * 2, cl->height * 2);
	for (int y = 0; y < cl->height * 2; y++)
		for (int x = 0; x < cl->width * 2; x++) {
			uint32_t p = pixel_at(cl, x / 2, y / 2);
			uint8_t rgb[3] = { (uint8_t)(p >> 16), (uint8_t)(p >> 8), (uint8_t)p };

			fwrite(rgb, 1, 3, f);
		}
	ok = !ferror(f);
	return fclose(f) == 0 && ok;
}

/* The bytes received on the connection so far, -1 where it is not TCP. */
static long long bytes_in(rfbClient *cl)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(cl->sock, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
	    len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received))
		return -1;
	return (long long)ti.tcpi_bytes_received;
}

static double mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* -M: the first whole picture, then SECONDS of updates as fast as they come. */
static int measure(rfbClient *cl, long seconds, time_t deadline)
{
	long long b0, b1;
	double t0, t1;

	while (frames == 0 && time(NULL) < deadline) {
		int n = WaitForMessage(cl, 100000);

		if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
			printf("vncclient: connection lost\n");
			return 2;
		}
	}
	if (frames == 0) {
		printf("vncclient: no picture before the deadline\n");
		return 3;
	}
	SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
	update_done = false;
	frames = rects = pixels = 0;
	b0 = bytes_in(cl);
	t0 = mono();
	t1 = t0;
	while (t1 - t0 < (double)seconds) {
		int n = WaitForMessage(cl, 10000);

		if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
			printf("vncclient: connection lost\n");
			return 2;
		}
		if (update_done) {
			update_done = false;
			SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
		}
		t1 = mono();
	}
	b1 = bytes_in(cl);
	printf("vncclient: measured %.3f s, desktop %dx%d: %ld frames, %ld rectangles, %ld pixels, %lld bytes\n",
	    t1 - t0, cl->width, cl->height, frames, rects, pixels, b0 >= 0 && b1 >= 0 ? b1 - b0 : -1LL);
	return 0;
}

static bool pattern_ok(rfbClient *cl, bool verbose)
{
	static const int xs[] = { 0, 1, 7, 100, 255, 256, 300, 511, 512, 639 };
	static const int ys[] = { 0, 1, 31, 200, 255, 256, 400, 479 };

	if (cl->width != 640 || cl->height != 480 || cl->frameBuffer == NULL)
		return false;
	for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++)
		for (size_t j = 0; j < sizeof(ys) / sizeof(ys[0]); j++) {
			int x = xs[i], y = ys[j];
			uint32_t want = (uint32_t)(x & 0xff) << 16 | (uint32_t)(y & 0xff) << 8 |
			    (uint32_t)((x >> 8) << 4 | (y >> 8));
			uint32_t got = pixel_at(cl, x, y);

			if (got != want) {
				if (verbose)
					fprintf(stderr, "vncclient: pixel (%d,%d) is 0x%06x, want 0x%06x\n",
					    x, y, got, want);
				return false;
			}
		}
	return true;
}

int main(int argc, char **argv)
{
	bool want_pattern = false, pointer = false;
	const char *encodings = NULL, *save = NULL;
	long keys[16], delay_ms = 0, seconds = 30, idle = 0, meas = 0;
	int nkeys = 0;
	char *addr, *colon;
	rfbClient *cl;
	time_t deadline;
	int c;

	while ((c = getopt(argc, argv, "P:e:pmk:d:t:i:s:M:")) != -1) {
		switch (c) {
		case 'e': encodings = optarg; break;
		case 'P': password = optarg; break;
		case 'p': want_pattern = true; break;
		case 'm': pointer = true; break;
		case 'k':
			for (char *p = optarg, *end; *p != '\0'; p = *end == ',' ? end + 1 : end) {
				if (nkeys == (int)(sizeof(keys) / sizeof(keys[0]))) {
					fprintf(stderr, "vncclient: at most 16 keys\n");
					return 1;
				}
				keys[nkeys] = strtol(p, &end, 16);
				if (end == p || keys[nkeys] < 0 || (*end != ',' && *end != '\0')) {
					fprintf(stderr, "vncclient: bad keysym list \"%s\"\n", optarg);
					return 1;
				}
				nkeys++;
			}
			break;
		case 'd': delay_ms = strtol(optarg, NULL, 10); break;
		case 't': seconds = strtol(optarg, NULL, 10); break;
		case 'i': idle = strtol(optarg, NULL, 10); break;
		case 's': save = optarg; break;
		case 'M': meas = strtol(optarg, NULL, 10); break;
		default: return 1;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: vncclient [-P password] [-e encodings] [-p] [-i s] [-k keysym[,...]] [-d ms] [-m] [-s ppm] [-M s] [-t s] host:port|path\n");
		return 1;
	}
	rfbClientLog = quiet;
	rfbClientErr = quiet;
	cl = rfbGetClient(8, 3, 4);
	cl->GetPassword = get_password;
	cl->FinishedFrameBufferUpdate = finished_update;
	cl->GotFrameBufferUpdate = got_update;
	cl->appData.enableJPEG = FALSE;		/* lossy: the pattern must be exact */
	if (encodings != NULL)
		cl->appData.encodingsString = encodings;
	addr = argv[optind];
	colon = strrchr(addr, ':');
	if (addr[0] != '/' && colon != NULL) {
		*colon = '\0';
		cl->serverHost = strdup(addr);
		cl->serverPort = atoi(colon + 1);
	} else {
		cl->serverHost = strdup(addr);
	}
	if (!rfbInitClient(cl, NULL, NULL)) {
		printf("vncclient: connection or authentication refused\n");
		return 2;
	}
	printf("vncclient: connected, desktop %dx%d\n", cl->width, cl->height);
	fflush(stdout);
	deadline = time(NULL) + seconds;
	if (want_pattern) {
		bool ok = false;

		while (!ok && time(NULL) < deadline) {
			int n = WaitForMessage(cl, 100000);

			if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
				printf("vncclient: connection lost\n");
				return 2;
			}
			if (update_done) {
				update_done = false;
				ok = pattern_ok(cl, false);
				SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
			}
		}
		if (!ok) {
			const char *dump = getenv("VNCCLIENT_DUMP");

			if (dump != NULL && cl->frameBuffer != NULL) {
				FILE *f = fopen(dump, "w");

				if (f != NULL) {
					fwrite(cl->frameBuffer, 4, (size_t)cl->width * (size_t)cl->height, f);
					fclose(f);
				}
			}
			pattern_ok(cl, true);
			printf("vncclient: no pattern in %ld s (desktop %dx%d)\n", seconds,
			    cl->width, cl->height);
			return 3;
		}
		printf("vncclient: pattern ok, desktop %dx%d\n", cl->width, cl->height);
	}
	if (save != NULL) {
		bool got = false;
		int settle = 0;

		/* The first update can be the desktop as it was at connection; the
		 * picture is taken once updates have come for a second more. */
		while (settle < 10 && time(NULL) < deadline) {
			int n = WaitForMessage(cl, 100000);

			if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
				printf("vncclient: connection lost\n");
				return 2;
			}
			if (update_done) {
				update_done = false;
				got = cl->frameBuffer != NULL;
				SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
			}
			if (got)
				settle++;
		}
		if (!got || !save_ppm(cl, save)) {
			printf("vncclient: no picture saved to %s\n", save);
			return 3;
		}
		printf("vncclient: saved %dx%d to %s\n", cl->width, cl->height, save);
	}
	if (meas > 0) {
		int rc = measure(cl, meas, deadline + meas);

		fflush(stdout);
		rfbClientCleanup(cl);
		return rc;
	}
	if (idle > 0) {
		time_t end = time(NULL) + idle;

		rects = pixels = 0;
		while (time(NULL) < end) {
			int n = WaitForMessage(cl, 100000);

			if (n < 0 || (n > 0 && !HandleRFBServerMessage(cl))) {
				printf("vncclient: connection lost\n");
				return 2;
			}
			if (update_done) {
				update_done = false;
				SendFramebufferUpdateRequest(cl, 0, 0, cl->width, cl->height, TRUE);
			}
		}
		printf("vncclient: idle %ld s: %ld rectangles, %ld pixels\n", idle, rects, pixels);
	}
	if (nkeys > 0 || pointer) {
		for (int i = 0; i < nkeys; i++) {
			if (delay_ms > 0) {
				struct timespec ts = { delay_ms / 1000, delay_ms % 1000 * 1000000L };

				nanosleep(&ts, NULL);
			}
			SendKeyEvent(cl, (uint32_t)keys[i], TRUE);
			SendKeyEvent(cl, (uint32_t)keys[i], FALSE);
			printf("vncclient: sent key 0x%lx\n", keys[i]);
			fflush(stdout);
		}
		if (pointer) {
			SendPointerEvent(cl, 100, 100, 0);
			SendPointerEvent(cl, 110, 95, rfbButton1Mask);
			printf("vncclient: moved the pointer\n");
		}
		/* Let the server read the events before the connection closes: one to two
		 * seconds, answering what it sends meanwhile. */
		for (time_t end = time(NULL) + 2; time(NULL) < end;)
			if (WaitForMessage(cl, 100000) > 0 && !HandleRFBServerMessage(cl))
				break;
	}
	fflush(stdout);
	rfbClientCleanup(cl);
	return 0;
}
