/* The grub-bhyve test runner: build/tests/grub_tests [IMAGE-DIR]. Exit 1 when
 * a test failed. */
#include <stdarg.h>
#include <stdlib.h>

#include "gt.h"

const char *gt_dir;
static int npass, nfail, nskip;
static bool failed, skipped;
static char why[512];

void gt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(why);

	if (!failed || n < sizeof(why) - 64) {
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s%s:%d: ", failed ? "; " : "",
		    file, line);
		va_start(ap, fmt);
		if (n < sizeof(why))
			vsnprintf(why + n, sizeof(why) - n, fmt, ap);
		va_end(ap);
	}
	failed = true;
}

void gt_skip(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	skipped = true;
}

void gt_run(const char *name, void (*fn)(void))
{
	failed = skipped = false;
	why[0] = '\0';
	fn();
	if (failed) {
		printf("FAIL %s: %s\n", name, why);
		nfail++;
	} else if (skipped) {
		printf("SKIP %s: %s\n", name, why);
		nskip++;
	} else {
		printf("PASS %s\n", name);
		npass++;
	}
	fflush(stdout);
}

const char *gt_path(const char *name)
{
	static char buf[4][4096];
	static int i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", gt_dir ? gt_dir : ".", name);
	return buf[i];
}

uint8_t *gt_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long n;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) != NULL) {
		if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
			*len = (size_t)n;
		}
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	gt_dir = argc > 1 ? argv[1] : NULL;
	suite_disk();
	suite_fs();
	suite_cfg();
	suite_linux();
	printf("grub_tests: %d passed, %d failed, %d skipped\n", npass, nfail, nskip);
	return nfail > 0;
}
