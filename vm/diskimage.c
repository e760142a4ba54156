/* Disk images for `vm create -i` (image_to_disk) and for `vm iso|img URL`
 * (image_unpack): raw images are copied sparse (a reflink where the
 * filesystem shares blocks), compressed ones unpacked with libarchive,
 * qcow2/vmdk/vdi/vhdx converted to raw by qemu-img (qemu-utils).
 *
 * Every result is written to DST.part beside DST and renamed over DST at
 * the end, so a failure never leaves a partial DST. Needs only vm_err and
 * vm_tool from the rest of vm(8) (tests/vm/images_driver.c links it alone). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vm.h"

#define BLK (64 * 1024)

enum imgfmt { FMT_RAW, FMT_COMPRESSED, FMT_QEMU };

/* What a file holds, from its first bytes. *name: the format's name. */
static enum imgfmt image_format(const char *path, const char **name)
{
	unsigned char b[512];
	ssize_t n;
	int fd;

	*name = "raw";
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return FMT_RAW;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n < 4)
		return FMT_RAW;
	if (n >= 6 && memcmp(b, "\xfd" "7zXZ\0", 6) == 0)
		return *name = "xz", FMT_COMPRESSED;
	if (memcmp(b, "\x1f\x8b", 2) == 0)
		return *name = "gzip", FMT_COMPRESSED;
	if (memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return *name = "zstd", FMT_COMPRESSED;
	if (memcmp(b, "BZh", 3) == 0 && b[3] >= '1' && b[3] <= '9')
		return *name = "bzip2", FMT_COMPRESSED;
	if (memcmp(b, "QFI\xfb", 4) == 0)
		return *name = "qcow2", FMT_QEMU;
	if (memcmp(b, "KDMV", 4) == 0 ||
	    (n >= 21 && memcmp(b, "# Disk DescriptorFile", 21) == 0))
		return *name = "vmdk", FMT_QEMU;
	if (n >= 0x44 && memcmp(b + 0x40, "\x7f\x10\xda\xbe", 4) == 0)
		return *name = "vdi", FMT_QEMU;
	if (n >= 8 && memcmp(b, "vhdxfile", 8) == 0)
		return *name = "vhdx", FMT_QEMU;
	return FMT_RAW;
}

bool image_is_compressed(const char *path)
{
	const char *name;

	return image_format(path, &name) == FMT_COMPRESSED;
}

static bool all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Writes N bytes at the current offset of FD, or skips them when all zero
 * (the file is extended by ftruncate at the end). */
static int write_sparse(int fd, const unsigned char *p, size_t n)
{
	for (size_t off = 0; off < n;) {
		size_t k = n - off < 4096 ? n - off : 4096;

		if (all_zero(p + off, k)) {
			if (lseek(fd, (off_t)k, SEEK_CUR) < 0)
				return -1;
			off += k;
			continue;
		}
		/* a run of non-zero 4 KiB blocks in one write */
		size_t run = k;
		while (off + run < n) {
			size_t k2 = n - off - run < 4096 ? n - off - run : 4096;
			if (all_zero(p + off + run, k2))
				break;
			run += k2;
		}
		for (size_t w = 0; w < run;) {
			ssize_t r = write(fd, p + off + w, run - w);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return -1;
			w += (size_t)r;
		}
		off += run;
	}
	return 0;
}

/* DST.part beside DST. */
static int part_name(const char *dst, char *buf, size_t n)
{
	if ((size_t)snprintf(buf, n, "%s.part", dst) >= n) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int finish(const char *part, const char *dst)
{
	if (rename(part, dst) != 0) {
		int e = errno;
		unlink(part);
		return vm_err("cannot rename %s to %s: %s", part, dst, strerror(e));
	}
	return 0;
}

/* Raw SRC to the new file PART: a reflink if the filesystem can, else the
 * data extents (SEEK_DATA) copied without their zero blocks. */
static int copy_raw(const char *src, const char *part)
{
	static unsigned char buf[BLK * 16];
	struct stat st;
	int in, out, rc = -1;
	off_t pos = 0, end, data, hole;

	if ((in = open(src, O_RDONLY | O_CLOEXEC)) < 0)
		return vm_err("cannot open %s: %s", src, strerror(errno));
	if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(in);
		return vm_err("%s is not a regular file", src);
	}
	if ((out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		close(in);
		return vm_err("cannot create %s: %s", part, strerror(errno));
	}
	if (ioctl(out, FICLONE, in) == 0) {
		close(in);
		if (close(out) != 0)
			return unlink(part), vm_err("cannot write %s: %s", part, strerror(errno));
		return 0;
	}
	end = st.st_size;
	while (pos < end) {
		data = lseek(in, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;			/* only a hole left */
		if (data < 0)
			data = pos;		/* no SEEK_DATA: read everything */
		hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0 || hole > end)
			hole = end;
		if (lseek(out, data, SEEK_SET) < 0)
			goto fail;
		for (off_t at = data; at < hole;) {
			size_t want = (size_t)(hole - at) < sizeof(buf) ? (size_t)(hole - at) : sizeof(buf);
			ssize_t r = pread(in, buf, want, at);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				goto fail;
			if (r == 0) {
				hole = at;	/* the file shrank */
				end = at;
				break;
			}
			if (write_sparse(out, buf, (size_t)r) != 0)
				goto fail;
			at += r;
		}
		pos = hole;
	}
	if (ftruncate(out, end) != 0)
		goto fail;
	rc = 0;
fail:
	if (rc != 0)
		vm_err("cannot copy %s to %s: %s", src, part, strerror(errno));
	close(in);
	if (close(out) != 0 && rc == 0)
		rc = vm_err("cannot write %s: %s", part, strerror(errno));
	if (rc != 0)
		unlink(part);
	return rc;
}

/* Unpacks SRC into the new file OUTP (no rename). */
static int unpack_to(const char *src, const char *outp)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	const void *blk;
	size_t len;
	la_int64_t off, end = 0;
	int out = -1, rc = -1;

	if (a == NULL)
		return vm_err("out of memory");
	archive_read_support_filter_xz(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_raw(a);
	if (archive_read_open_filename(a, src, BLK) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK) {
		vm_err("cannot unpack %s: %s", src, archive_error_string(a));
		goto out;
	}
	if ((out = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0) {
		vm_err("cannot create %s: %s", outp, strerror(errno));
		goto out;
	}
	for (;;) {
		int r = archive_read_data_block(a, &blk, &len, &off);

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			vm_err("cannot unpack %s: %s", src, archive_error_string(a));
			goto out;
		}
		if (lseek(out, off, SEEK_SET) < 0 || write_sparse(out, blk, len) != 0) {
			vm_err("cannot write %s: %s", outp, strerror(errno));
			goto out;
		}
		if (off + (la_int64_t)len > end)
			end = off + (la_int64_t)len;
	}
	if (ftruncate(out, end) != 0) {
		vm_err("cannot write %s: %s", outp, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (out >= 0 && close(out) != 0 && rc == 0)
		rc = vm_err("cannot write %s: %s", outp, strerror(errno));
	archive_read_free(a);
	if (rc != 0 && out >= 0)
		unlink(outp);
	return rc;
}

int image_unpack(const char *src, const char *dst)
{
	char part[4200];

	if (part_name(dst, part, sizeof(part)) != 0)
		return vm_err("%s: %s", dst, strerror(errno));
	if (unpack_to(src, part) != 0)
		return -1;
	return finish(part, dst) == 0 ? 0 : -1;
}

/* qemu-img convert SRC to raw OUTP, with its progress on a terminal. Its
 * error, if any, becomes our one line. */
static int qemu_convert(const char *src, const char *fmt, const char *outp)
{
	const char *tool = vm_tool("qemu-img");
	char msg[1024] = "", *nl, *last;
	size_t n = 0;
	int pfd[2], status;
	pid_t pid;
	ssize_t r;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return vm_err("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0) {
		close(pfd[0]), close(pfd[1]);
		return vm_err("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		dup2(pfd[1], 2);
		if (isatty(1))
			execlp(tool, tool, "convert", "-p", "-f", fmt, "-O", "raw", src, outp, (char *)NULL);
		else
			execlp(tool, tool, "convert", "-f", fmt, "-O", "raw", src, outp, (char *)NULL);
		dprintf(2, "%s\n", errno == ENOENT ? "qemu-img not found (install qemu-utils)" : strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	while ((r = read(pfd[0], msg + n, sizeof(msg) - 1 - n)) > 0 ||
	    (r < 0 && errno == EINTR)) {
		if (r < 0)
			continue;
		n += (size_t)r;
		if (n == sizeof(msg) - 1) {	/* keep the tail */
			memmove(msg, msg + n / 2, n - n / 2);
			n -= n / 2;
		}
	}
	msg[n] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	unlink(outp);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	last = (nl = strrchr(msg, '\n')) ? nl + 1 : msg;
	return vm_err("cannot convert %s (%s) to raw: %s", src, fmt,
	    *last ? last : "qemu-img failed");
}

int image_to_disk(const char *src, const char *dst)
{
	char part[4200], unpacked[4300];
	const char *fmt;
	struct stat st;
	int rc;

	if (stat(src, &st) != 0)
		return vm_err("cannot open image %s: %s", src, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return vm_err("image %s is not a regular file", src);
	if (part_name(dst, part, sizeof(part)) != 0)
		return vm_err("%s: %s", dst, strerror(errno));
	switch (image_format(src, &fmt)) {
	case FMT_QEMU:
		if (qemu_convert(src, fmt, part) != 0)
			return -1;
		break;
	case FMT_COMPRESSED:
		/* Unpacked beside DST, then whatever it holds (raw, or qcow2
		 * and the like: foo.qcow2.xz) made raw. */
		snprintf(unpacked, sizeof(unpacked), "%s.unpacked", part);
		if (unpack_to(src, unpacked) != 0)
			return -1;
		if (image_format(unpacked, &fmt) == FMT_QEMU) {
			rc = qemu_convert(unpacked, fmt, part);
			unlink(unpacked);
			if (rc != 0)
				return -1;
		} else if (rename(unpacked, part) != 0) {
			rc = errno;
			unlink(unpacked);
			return vm_err("cannot rename %s: %s", unpacked, strerror(rc));
		}
		break;
	default:
		if (copy_raw(src, part) != 0)
			return -1;
	}
	return finish(part, dst) == 0 ? 0 : -1;
}
