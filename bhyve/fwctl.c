/* bhyve's fwctl: a request/response protocol on ports 0x510/0x511 that bhyve's
 * own UEFI firmware speaks instead of QEMU's fw_cfg.
 *
 * After a 16-bit write of 0 to 0x510 the guest reads the signature "BHYV" from
 * 0x511 a byte at a time. Then, in 32-bit words (little-endian, as the CPU
 * moves them): a request is written to 0x510 as
 *	size (bytes, the 12-byte header included), op, transaction id, data...
 * and its response read from 0x511 as
 *	size (bytes, the 16-byte header included), op, transaction id, error, data...
 * OP_GET's data is a NUL-terminated node name; its answer is the value's length
 * as a 64-bit integer and then the value. OP_GET_LEN answers the length alone.
 * Errors are FreeBSD errno values; other ops answer ENOENT. */
#include <pthread.h>
#include <string.h>

#include "fwctl.h"
#include "iodispatch.h"
#include "util.h"

#define FWCTL_OUT	0x510
#define FWCTL_IN	0x511

#define OP_GET		3
#define OP_GET_LEN	4

#define FWCTL_ENOENT	2	/* FreeBSD's numbers, whatever the host's are */
#define FWCTL_E2BIG	7

#define REQ_HDR		12
#define RESP_HDR	16
#define NAME_MAX_LEN	80	/* the longest node name a request may carry */
#define VALUE_MAX	8

enum fwctl_state {
	FWCTL_OFF,		/* not set up */
	FWCTL_WAIT,		/* waiting for the guest to ask for the signature */
	FWCTL_IDENT,		/* sending the signature */
	FWCTL_REQ,		/* receiving a request */
	FWCTL_RESP,		/* sending a response */
};

struct node {
	const char *name;
	uint8_t value[VALUE_MAX];
	uint32_t len;
};

static const uint8_t signature[4] = { 'B', 'H', 'Y', 'V' };

static struct {
	pthread_mutex_t mtx;
	enum fwctl_state state;
	int ident_pos;
	struct node nodes[1];
	/* The request: header words seen so far, then the data. */
	int hdr_words;
	uint32_t op, txid;
	uint32_t data_words;	/* still to come */
	uint32_t name_len;	/* bytes kept in name */
	bool name_too_long;
	char name[NAME_MAX_LEN];
	/* The response, whole words. */
	uint32_t resp[(RESP_HDR + 8 + VALUE_MAX) / 4];
	int resp_words, resp_pos;
} fw = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static void request_reset(void)
{
	fw.hdr_words = 0;
	fw.data_words = 0;
	fw.name_len = 0;
	fw.name_too_long = false;
}

static const struct node *find_node(void)
{
	size_t len = strnlen(fw.name, fw.name_len);

	for (size_t i = 0; i < nitems(fw.nodes); i++)
		if (strlen(fw.nodes[i].name) == len && memcmp(fw.nodes[i].name, fw.name, len) == 0)
			return &fw.nodes[i];
	return NULL;
}

/* The request is complete: build its response. */
static void request_done(void)
{
	uint8_t data[8 + VALUE_MAX] = { 0 };
	uint32_t dlen = 0, err = 0;
	const struct node *n = NULL;

	if (fw.op != OP_GET && fw.op != OP_GET_LEN)
		err = FWCTL_ENOENT;
	else if (fw.name_too_long)
		err = FWCTL_E2BIG;
	else if ((n = find_node()) == NULL)
		err = FWCTL_ENOENT;
	if (n != NULL) {
		for (int i = 0; i < 8; i++)
			data[i] = (uint8_t)((uint64_t)n->len >> (8 * i));
		dlen = 8;
		if (fw.op == OP_GET) {
			memcpy(data + 8, n->value, n->len);
			dlen += n->len;
		}
	}
	fw.resp[0] = RESP_HDR + (uint32_t)ROUNDUP(dlen, 4);
	fw.resp[1] = fw.op;
	fw.resp[2] = fw.txid;
	fw.resp[3] = err;
	for (uint32_t i = 0; i < ROUNDUP(dlen, 4) / 4; i++)
		fw.resp[4 + i] = (uint32_t)le_get(data + 4 * i, 4);
	fw.resp_words = 4 + (int)(ROUNDUP(dlen, 4) / 4);
	fw.resp_pos = 0;
	request_reset();
	fw.state = FWCTL_RESP;
}

static void request_word(uint32_t w)
{
	switch (fw.hdr_words) {
	case 0:
		if (w < REQ_HDR)
			return;		/* not a request: wait for one */
		w -= REQ_HDR;
		fw.data_words = w / 4 + (w % 4 != 0);
		fw.name_too_long = w > NAME_MAX_LEN;
		fw.hdr_words++;
		return;
	case 1:
		fw.op = w;
		fw.hdr_words++;
		return;
	case 2:
		fw.txid = w;
		fw.hdr_words++;
		break;
	default:
		if (fw.name_len + 4 <= NAME_MAX_LEN) {
			for (int i = 0; i < 4; i++)
				fw.name[fw.name_len++] = (char)(w >> (8 * i));
		}
		fw.data_words--;
		break;
	}
	if (fw.data_words == 0)
		request_done();
}

int fwctl_io(bool write, uint64_t port, int size, uint64_t *val)
{
	int rc = 0;

	pthread_mutex_lock(&fw.mtx);
	if (fw.state == FWCTL_OFF) {
		rc = -1;
	} else if (write && port == FWCTL_OUT && size == 2) {
		/* 0 asks for the signature, whatever the state: the guest may not
		 * know where an earlier conversation stopped. */
		if ((uint16_t)*val == 0) {
			fw.state = FWCTL_IDENT;
			fw.ident_pos = 0;
			request_reset();
		}
	} else if (write && port == FWCTL_OUT && size == 4) {
		if (fw.state == FWCTL_REQ)
			request_word((uint32_t)*val);
	} else if (!write && port == FWCTL_IN && size == 1) {
		*val = 0xff;
		if (fw.state == FWCTL_IDENT) {
			*val = signature[fw.ident_pos++];
			if (fw.ident_pos == (int)sizeof(signature))
				fw.state = FWCTL_REQ;
		}
	} else if (!write && port == FWCTL_IN && size == 4) {
		*val = 0xffffffff;
		if (fw.state == FWCTL_RESP) {
			*val = fw.resp[fw.resp_pos++];
			if (fw.resp_pos == fw.resp_words)
				fw.state = FWCTL_REQ;
		}
	} else {
		rc = -1;
	}
	pthread_mutex_unlock(&fw.mtx);
	return rc;
}

static int fwctl_port_io(void *arg, bool write, uint64_t port, int size, uint64_t *val)
{
	(void)arg;
	return fwctl_io(write, port, size, val);
}

void fwctl_setup(int ncpus)
{
	uint32_t n = (uint32_t)ncpus;

	pthread_mutex_lock(&fw.mtx);
	fw.nodes[0].name = "hw.ncpu";
	for (int i = 0; i < 4; i++)
		fw.nodes[0].value[i] = (uint8_t)(n >> (8 * i));
	fw.nodes[0].len = 4;
	request_reset();
	fw.state = FWCTL_WAIT;
	pthread_mutex_unlock(&fw.mtx);
}

int fwctl_init(int ncpus)
{
	/* Byte-wide ranges that take the protocol's 16- and 32-bit accesses. */
	static const struct io_range ranges[] = {
		{ .name = "fwctl_out", .base = FWCTL_OUT, .size = 1,
		  .handler = fwctl_port_io, .arg = NULL, .wider = true },
		{ .name = "fwctl_in", .base = FWCTL_IN, .size = 1,
		  .handler = fwctl_port_io, .arg = NULL, .wider = true },
	};

	for (size_t i = 0; i < nitems(ranges); i++)
		if (register_io(IO_PORT, &ranges[i]) != 0)
			return -1;
	fwctl_setup(ncpus);
	return 0;
}
