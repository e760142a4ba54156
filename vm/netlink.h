/* rtnetlink for vm switch (vm/netlink.c): links, bridges, VLANs, taps and
 * addresses through libnl-route-3 and libnl-3's message API. Every function
 * returns 0 or a negative libnl error code (nlk_strerror names it), never
 * prints. */
#ifndef VM_NETLINK_H
#define VM_NETLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <netlink/errno.h>

#define NLK_NAMESZ 16	/* IFNAMSIZ */

struct nlk_link {
	int ifindex;
	char name[NLK_NAMESZ];
	char kind[16];		/* "bridge", "vlan", "tun", "veth", ... or "" */
	char alias[128];	/* IFLA_IFALIAS, or "" */
	int master;		/* ifindex of its bridge, 0 if none */
	unsigned mtu;
	bool up;
	uint64_t rx_bytes, tx_bytes;
};

const char *nlk_strerror(int err);
/* The link called NAME into *l: -NLE_OBJ_NOTFOUND (or -NLE_NODEV) if none. */
int nlk_get(const char *name, struct nlk_link *l);
/* Every link whose master is MASTER (ifindex; -1: every link), in ifindex order; fn's
 * non-zero return stops the walk and is returned. */
int nlk_ports(int master, int (*fn)(const struct nlk_link *, void *), void *arg);
/* A bridge NAME, STP off, forwarding delay 0. -NLE_EXIST if NAME exists. */
int nlk_bridge_add(const char *name);
/* STP off and forwarding delay 0 on an existing bridge. */
int nlk_bridge_nostp(int ifindex);
/* An 802.1Q interface NAME on PARENT (ifindex) with VLAN id VID. */
int nlk_vlan_add(const char *name, int parent, unsigned vid);
/* A persistent tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR) named after PATTERN
 * ("tap%d": the kernel takes the first free number); its name into name. */
int nlk_tap_add(const char *pattern, char name[NLK_NAMESZ]);
int nlk_del(int ifindex);
/* Changes on link IFINDEX: mtu 0 leaves it, up -1 leaves it, master -1 leaves
 * it (0 takes the link out of its bridge). */
int nlk_set(int ifindex, unsigned mtu, int up, int master);
int nlk_set_alias(int ifindex, const char *alias);
/* Bridge port isolation (IFLA_BRPORT_ISOLATED) of a port of a bridge. */
int nlk_port_isolate(int ifindex, bool on);
/* An IPv4 address "a.b.c.d/len" on IFINDEX added (add) or removed.
 * -NLE_INVAL for a malformed address. */
int nlk_addr(int ifindex, const char *cidr, bool add);
/* true if CIDR is a.b.c.d/len with len 0..32. */
bool nlk_cidr_valid(const char *cidr);

#endif
