/* The grub-bhyve tests' small framework: one line per test, "PASS name",
 * "FAIL name: why" or "SKIP name: why". */
#ifndef GT_H
#define GT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void gt_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void gt_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void gt_run(const char *name, void (*fn)(void));
#define RUN(fn) gt_run(#fn, fn)
/* The directory test_grub.sh built the images in, or NULL. */
extern const char *gt_dir;
/* gt_dir/name in a static buffer. */
const char *gt_path(const char *name);
/* A host file's contents (malloc'd), or NULL. */
uint8_t *gt_slurp(const char *path, size_t *len);

#define CHECK(c) do { if (!(c)) gt_fail(__FILE__, __LINE__, "%s", #c); } while (0)
#define CHECK_EQ(g, w) do { \
	unsigned long long g_ = (unsigned long long)(g), w_ = (unsigned long long)(w); \
	if (g_ != w_) gt_fail(__FILE__, __LINE__, "%s is 0x%llx, want 0x%llx", #g, g_, w_); \
} while (0)
#define CHECK_STR(g, w) do { \
	const char *g_ = (g), *w_ = (w); \
	if (g_ == NULL || w_ == NULL ? g_ != w_ : strcmp(g_, w_) != 0) \
		gt_fail(__FILE__, __LINE__, "%s is \"%s\", want \"%s\"", #g, g_ ? g_ : "(null)", \
		    w_ ? w_ : "(null)"); \
} while (0)
#define REQUIRE(c) do { if (!(c)) { gt_fail(__FILE__, __LINE__, "required: %s", #c); return; } } while (0)
#define SKIP_IF_NO_DIR() do { if (gt_dir == NULL) { gt_skip("no images (run tests/grub/test_grub.sh)"); return; } } while (0)

void suite_disk(void);
void suite_fs(void);
void suite_cfg(void);
void suite_linux(void);

#endif
