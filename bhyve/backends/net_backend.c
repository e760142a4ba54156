/* The network backends' common part: picks the backend the "backend" key names
 * from the NET_BACKEND_SET linker set, and the thin netbe_* calls the device
 * makes. The backends themselves are net_tap.c and net_slirp.c. */
#include "net_backend.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"

SET_DECLARE(net_backend_set, struct net_backend_ops);

static bool has_prefix(const char *name, const char *prefix)
{
	return prefix != NULL && strncmp(name, prefix, strlen(prefix)) == 0;
}

static const struct net_backend_ops *netbe_find(const char *name)
{
	struct net_backend_ops **opp;

	SET_FOREACH(opp, net_backend_set)
		if (has_prefix(name, (*opp)->prefix) || has_prefix(name, (*opp)->alias))
			return *opp;
	return NULL;
}

static struct net_backend *netbe_alloc(const struct net_backend_ops *ops,
    net_rx_ready_t cb, void *arg)
{
	struct net_backend *be = xcalloc(1, sizeof(*be));

	be->ops = ops;
	be->cb = cb;
	be->cb_arg = arg;
	be->queues = 1;
	be->priv = ops->priv_size > 0 ? xcalloc(1, ops->priv_size) : NULL;
	return be;
}

static void netbe_free(struct net_backend *be)
{
	free(be->priv);
	free(be);
}

struct net_backend *netbe_open(const char *devname, const char *node, int queues,
    net_rx_ready_t cb, void *arg)
{
	const char *name = get_config_value_node(node, "backend");
	const struct net_backend_ops *ops;
	struct net_backend *be;

	if (name == NULL || *name == '\0') {
		warnx("%s: no network backend (%s.backend)", devname, node);
		return NULL;
	}
	ops = netbe_find(name);
	if (ops == NULL) {
		struct net_backend_ops **opp;
		char known[128] = "";

		SET_FOREACH(opp, net_backend_set) {
			size_t l = strlen(known);

			snprintf(known + l, sizeof(known) - l, "%s%s%s%s", l > 0 ? ", " : "",
			    (*opp)->prefix, (*opp)->alias != NULL ? ", " : "",
			    (*opp)->alias != NULL ? (*opp)->alias : "");
		}
		warnx("%s: unknown network backend \"%s\" (there are: %s)", devname, name, known);
		return NULL;
	}
	be = netbe_alloc(ops, cb, arg);
	be->queues = ops->open_queue != NULL && queues > 1 ? queues : 1;
	if (ops->init(be, devname, name, node) != 0) {
		netbe_free(be);
		return NULL;
	}
	return be;
}

int netbe_max_queues(struct net_backend *be)
{
	return be->queues;
}

struct net_backend *netbe_open_queue(const char *devname, struct net_backend *first,
    net_rx_ready_t cb, void *arg)
{
	struct net_backend *be;

	if (first->ops->open_queue == NULL || first->queues < 2) {
		warnx("%s: the backend has one queue pair", devname);
		return NULL;
	}
	be = netbe_alloc(first->ops, cb, arg);
	be->queues = first->queues;
	if (first->ops->open_queue(be, devname, first) != 0) {
		netbe_free(be);
		return NULL;
	}
	return be;
}

uint64_t netbe_get_cap(struct net_backend *be)
{
	return be->ops->get_cap != NULL ? be->ops->get_cap(be) : 0;
}

int netbe_set_cap(struct net_backend *be, uint64_t features, unsigned hdr_len)
{
	if (hdr_len != 0 && hdr_len != 10 && hdr_len != 12)
		return -1;
	if (be->ops->set_cap != NULL && be->ops->set_cap(be, features, hdr_len) != 0)
		return -1;
	be->features = features;
	be->hdr_len = hdr_len;
	return 0;
}

ssize_t netbe_send(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->send(be, iov, iovcnt);
}

ssize_t netbe_peek_recvlen(struct net_backend *be)
{
	return be->ops->peek_recvlen(be);
}

ssize_t netbe_recv(struct net_backend *be, const struct iovec *iov, int iovcnt)
{
	return be->ops->recv(be, iov, iovcnt);
}

void netbe_rx_disable(struct net_backend *be)
{
	be->ops->recv_disable(be);
}

void netbe_rx_enable(struct net_backend *be)
{
	be->ops->recv_enable(be);
}

void netbe_close(struct net_backend *be)
{
	if (be == NULL)
		return;
	if (be->ops->cleanup != NULL)
		be->ops->cleanup(be);
	netbe_free(be);
}
