#ifndef GRUB_BHYVE_UTIL_H
#define GRUB_BHYVE_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes the message into err (errlen bytes) and returns -1. */
int gb_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The n-byte little-endian number at p. */
uint64_t gb_le(const uint8_t *p, int n);
/* The size of the disk image open on FD: a regular file, or a block device
 * (a zvol, a disk partition) as device.map may name one. -1 for anything else. */
int gb_image_size(int fd, uint64_t *size);

#endif
