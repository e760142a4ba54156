/* rtnetlink for vm switch (netlink.h). Links are read through libnl-route-3's
 * link objects; changes libnl-route-3 3.7 has no setter for (bridge STP and
 * forwarding delay, port isolation) are rtnetlink messages built with
 * libnl-3's message API, and so are the others, for one way of doing it.
 * Taps are made with TUNSETIFF on /dev/net/tun, since the kernel makes no
 * taps through rtnetlink. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/rtnetlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/msg.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/route/link.h>

#include "netlink.h"

static struct nl_sock *sk;

const char *nlk_strerror(int err)
{
	return nl_geterror(err);
}

static int nlk_open(void)
{
	int e;

	if (sk != NULL)
		return 0;
	if ((sk = nl_socket_alloc()) == NULL)
		return -NLE_NOMEM;
	if ((e = nl_connect(sk, NETLINK_ROUTE)) < 0) {
		nl_socket_free(sk);
		sk = NULL;
		return e;
	}
	return 0;
}

static void fill(struct rtnl_link *rl, struct nlk_link *l)
{
	const char *s;

	memset(l, 0, sizeof(*l));
	l->ifindex = rtnl_link_get_ifindex(rl);
	snprintf(l->name, sizeof(l->name), "%s", rtnl_link_get_name(rl) ? rtnl_link_get_name(rl) : "");
	s = rtnl_link_get_type(rl);
	snprintf(l->kind, sizeof(l->kind), "%s", s ? s : "");
	s = rtnl_link_get_ifalias(rl);
	snprintf(l->alias, sizeof(l->alias), "%s", s ? s : "");
	l->master = rtnl_link_get_master(rl);
	l->mtu = rtnl_link_get_mtu(rl);
	l->up = (rtnl_link_get_flags(rl) & IFF_UP) != 0;
	l->rx_bytes = rtnl_link_get_stat(rl, RTNL_LINK_RX_BYTES);
	l->tx_bytes = rtnl_link_get_stat(rl, RTNL_LINK_TX_BYTES);
}

int nlk_get(const char *name, struct nlk_link *l)
{
	struct rtnl_link *rl = NULL;
	int e;

	if (strlen(name) >= NLK_NAMESZ || *name == '\0')
		return -NLE_OBJ_NOTFOUND;
	if ((e = nlk_open()) < 0)
		return e;
	if ((e = rtnl_link_get_kernel(sk, 0, name, &rl)) < 0)
		return e == -NLE_NODEV ? -NLE_OBJ_NOTFOUND : e;
	fill(rl, l);
	rtnl_link_put(rl);
	return 0;
}

int nlk_ports(int master, int (*fn)(const struct nlk_link *, void *), void *arg)
{
	struct nl_cache *cache = NULL;
	struct nl_object *o;
	struct nlk_link l;
	int e, rc = 0;

	if ((e = nlk_open()) < 0)
		return e;
	if ((e = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache)) < 0)
		return e;
	for (o = nl_cache_get_first(cache); o != NULL && rc == 0; o = nl_cache_get_next(o)) {
		struct rtnl_link *rl = (struct rtnl_link *)o;

		if (master >= 0 && rtnl_link_get_master(rl) != master)
			continue;
		fill(rl, &l);
		rc = fn(&l, arg);
	}
	nl_cache_free(cache);
	return rc;
}

/* Sends M (freed) and waits for the kernel's answer. */
static int talk(struct nl_msg *m)
{
	int e;

	if ((e = nlk_open()) < 0) {
		nlmsg_free(m);
		return e;
	}
	e = nl_send_auto(sk, m);
	nlmsg_free(m);
	if (e < 0)
		return e;
	e = nl_wait_for_ack(sk);
	return e < 0 ? e : 0;
}

static struct nl_msg *link_msg(int type, int flags, int ifindex)
{
	struct ifinfomsg ifi;
	struct nl_msg *m = nlmsg_alloc_simple(type, NLM_F_REQUEST | flags);

	if (m == NULL)
		return NULL;
	memset(&ifi, 0, sizeof(ifi));
	ifi.ifi_family = AF_UNSPEC;
	ifi.ifi_index = ifindex;
	if (nlmsg_append(m, &ifi, sizeof(ifi), NLMSG_ALIGNTO) < 0) {
		nlmsg_free(m);
		return NULL;
	}
	return m;
}

/* Sets ifi_flags/ifi_change of a link message. */
static void link_msg_up(struct nl_msg *m, bool up)
{
	struct ifinfomsg *ifi = nlmsg_data(nlmsg_hdr(m));

	ifi->ifi_change |= IFF_UP;
	if (up)
		ifi->ifi_flags |= IFF_UP;
}

/* Bridge attributes: STP off, and the forwarding delay 0 when fd0. */
static int put_bridge(struct nl_msg *m, bool stp_attr, bool fd0)
{
	struct nlattr *info, *data;

	if ((info = nla_nest_start(m, IFLA_LINKINFO)) == NULL ||
	    nla_put_string(m, IFLA_INFO_KIND, "bridge") < 0 ||
	    (data = nla_nest_start(m, IFLA_INFO_DATA)) == NULL)
		return -NLE_NOMEM;
	if (stp_attr && nla_put_u32(m, IFLA_BR_STP_STATE, 0) < 0)
		return -NLE_NOMEM;
	if (fd0 && nla_put_u32(m, IFLA_BR_FORWARD_DELAY, 0) < 0)
		return -NLE_NOMEM;
	nla_nest_end(m, data);
	nla_nest_end(m, info);
	return 0;
}

int nlk_bridge_add(const char *name)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);

	if (m == NULL)
		return -NLE_NOMEM;
	/* A new bridge has STP off; the kernel takes the forwarding delay
	 * before the STP state, and 0 only with STP off: both in one go. */
	if (nla_put_string(m, IFLA_IFNAME, name) < 0 || put_bridge(m, true, true) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return talk(m);
}

int nlk_bridge_nostp(int ifindex)
{
	struct nl_msg *m;
	int e;

	/* STP off first: a forwarding delay under 2 s is refused while it is on. */
	if ((m = link_msg(RTM_NEWLINK, 0, ifindex)) == NULL)
		return -NLE_NOMEM;
	if (put_bridge(m, true, false) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	if ((e = talk(m)) < 0)
		return e;
	if ((m = link_msg(RTM_NEWLINK, 0, ifindex)) == NULL)
		return -NLE_NOMEM;
	if (put_bridge(m, false, true) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return talk(m);
}

int nlk_vlan_add(const char *name, int parent, unsigned vid)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	struct nlattr *info, *data;

	if (m == NULL)
		return -NLE_NOMEM;
	if (nla_put_string(m, IFLA_IFNAME, name) < 0 || nla_put_u32(m, IFLA_LINK, (uint32_t)parent) < 0 ||
	    (info = nla_nest_start(m, IFLA_LINKINFO)) == NULL ||
	    nla_put_string(m, IFLA_INFO_KIND, "vlan") < 0 ||
	    (data = nla_nest_start(m, IFLA_INFO_DATA)) == NULL ||
	    nla_put_u16(m, IFLA_VLAN_ID, (uint16_t)vid) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	nla_nest_end(m, data);
	nla_nest_end(m, info);
	return talk(m);
}

int nlk_tap_add(const char *pattern, char name[NLK_NAMESZ])
{
	struct ifreq ifr;
	int fd, e;

	if (strlen(pattern) >= IFNAMSIZ)
		return -NLE_RANGE;
	if ((fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)) < 0)
		return -nl_syserr2nlerr(errno);
	memset(&ifr, 0, sizeof(ifr));
	/* Multi-queue, so that bhyve gives the guest a queue pair per vCPU. */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	memcpy(ifr.ifr_name, pattern, strlen(pattern) + 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, 1) < 0) {
		e = errno;
		close(fd);
		return -nl_syserr2nlerr(e);
	}
	close(fd);
	memcpy(name, ifr.ifr_name, IFNAMSIZ);
	name[IFNAMSIZ - 1] = '\0';
	return 0;
}

int nlk_del(int ifindex)
{
	struct nl_msg *m = link_msg(RTM_DELLINK, 0, ifindex);

	return m ? talk(m) : -NLE_NOMEM;
}

int nlk_set(int ifindex, unsigned mtu, int up, int master)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex);

	if (m == NULL)
		return -NLE_NOMEM;
	if (up >= 0)
		link_msg_up(m, up > 0);
	if ((mtu && nla_put_u32(m, IFLA_MTU, mtu) < 0) ||
	    (master >= 0 && nla_put_u32(m, IFLA_MASTER, (uint32_t)master) < 0)) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return talk(m);
}

int nlk_set_alias(int ifindex, const char *alias)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex);

	if (m == NULL)
		return -NLE_NOMEM;
	if (nla_put_string(m, IFLA_IFALIAS, alias) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return talk(m);
}

int nlk_port_isolate(int ifindex, bool on)
{
	struct nl_msg *m = link_msg(RTM_NEWLINK, 0, ifindex);
	struct nlattr *info, *data;

	if (m == NULL)
		return -NLE_NOMEM;
	if ((info = nla_nest_start(m, IFLA_LINKINFO)) == NULL ||
	    nla_put_string(m, IFLA_INFO_SLAVE_KIND, "bridge") < 0 ||
	    (data = nla_nest_start(m, IFLA_INFO_SLAVE_DATA)) == NULL ||
	    nla_put_u8(m, IFLA_BRPORT_ISOLATED, on ? 1 : 0) < 0) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	nla_nest_end(m, data);
	nla_nest_end(m, info);
	return talk(m);
}

/* a.b.c.d/len into *a and *len. */
static bool cidr_parse(const char *cidr, struct in_addr *a, unsigned *len)
{
	char buf[32], *slash, *end;
	unsigned long n;

	if (strlen(cidr) >= sizeof(buf))
		return false;
	strcpy(buf, cidr);
	if ((slash = strchr(buf, '/')) == NULL)
		return false;
	*slash++ = '\0';
	if (*slash < '0' || *slash > '9')
		return false;
	n = strtoul(slash, &end, 10);
	if (*end != '\0' || n > 32 || end - slash > 2)
		return false;
	if (inet_pton(AF_INET, buf, a) != 1)
		return false;
	*len = (unsigned)n;
	return true;
}

bool nlk_cidr_valid(const char *cidr)
{
	struct in_addr a;
	unsigned len;

	return cidr_parse(cidr, &a, &len);
}

int nlk_addr(int ifindex, const char *cidr, bool add)
{
	struct ifaddrmsg ifa;
	struct in_addr a, b;
	unsigned len;
	struct nl_msg *m;

	if (!cidr_parse(cidr, &a, &len))
		return -NLE_INVAL;
	m = nlmsg_alloc_simple(add ? RTM_NEWADDR : RTM_DELADDR,
	    NLM_F_REQUEST | (add ? NLM_F_CREATE | NLM_F_EXCL : 0));
	if (m == NULL)
		return -NLE_NOMEM;
	memset(&ifa, 0, sizeof(ifa));
	ifa.ifa_family = AF_INET;
	ifa.ifa_prefixlen = (unsigned char)len;
	ifa.ifa_index = (unsigned)ifindex;
	b.s_addr = len >= 31 ? 0 : a.s_addr | htonl(0xffffffffu >> len);
	if (nlmsg_append(m, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
	    nla_put(m, IFA_LOCAL, 4, &a) < 0 || nla_put(m, IFA_ADDRESS, 4, &a) < 0 ||
	    (add && b.s_addr && nla_put(m, IFA_BROADCAST, 4, &b) < 0)) {
		nlmsg_free(m);
		return -NLE_NOMEM;
	}
	return talk(m);
}
