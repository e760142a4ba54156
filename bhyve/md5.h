#ifndef BHYVE_MD5_H
#define BHYVE_MD5_H

#include <stddef.h>
#include <stdint.h>

#define MD5_LEN	16

/* The MD5 digest of len bytes (RFC 1321). Used only where bhyve's behaviour is
 * defined by it (the default MAC address), never for security. */
void md5(const void *data, size_t len, uint8_t out[MD5_LEN]);

#endif
