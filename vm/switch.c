/* vm switch: virtual switches on Linux bridges, and the taps guests use.
 *
 * A switch is kept in system.conf as vm-bhyve keeps it: switch_list, and per
 * switch type_NAME (standard or manual), ports_NAME (member interfaces),
 * vlan_NAME, addr_NAME, mtu_NAME, private_NAME, bridge_NAME (manual). A
 * standard switch is the bridge vm-NAME, made with STP off and forwarding
 * delay 0 so that a port forwards the moment it is up (a guest's first DHCP
 * request is not lost to a learning bridge). With a VLAN, each member IFACE
 * joins through an 802.1Q interface IFACE.VLAN made for it. A manual switch
 * is a bridge the administrator made and looks after (bridge_NAME); vm only
 * brings it up and puts guests on it.
 *
 * A guest's network device N is a persistent tap tapK (the kernel picks the
 * free K) whose alias (IFLA_IFALIAS) is "vmnet-GUEST-N-SWITCH", as vm-bhyve's
 * interface description: switch info and net_tap_find read guests back from
 * it. On a private switch the taps are isolated bridge ports
 * (IFLA_BRPORT_ISOLATED): guests reach the members, not each other.
 *
 * Commands not for users (the test tier uses them): `vm switch _init` runs
 * switch_init_all, `vm switch _tap SWITCH GUEST N` makes a guest's tap and
 * prints its name, `vm switch _untap IFACE` removes it, `vm switch _reap GUEST`
 * removes every tap of GUEST (net_tap_reap) and prints how many. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netlink.h"
#include "vm.h"

#define SW_NAME_MAX	(NLK_NAMESZ - 1 - 3)	/* "vm-" + NAME fits IFNAMSIZ */

/* A switch's setting KEY_NAME, NULL if unset or empty. */
static const char *sw_get(const struct vmhost *h, const char *key, const char *sw)
{
	char k[64];
	const char *v;

	snprintf(k, sizeof(k), "%s_%s", key, sw);
	v = conf_get(h->sys, k);
	return v && *v ? v : NULL;
}

static int sw_set(struct vmhost *h, const char *key, const char *sw, const char *value)
{
	char k[64];

	snprintf(k, sizeof(k), "%s_%s", key, sw);
	if (conf_set(h->sys, k, value && *value ? value : NULL) != 0)
		return vm_err("out of memory");
	return 0;
}

static bool sw_exists(const struct vmhost *h, const char *sw)
{
	return conf_list_has(h->sys, "switch_list", sw);
}

static bool sw_manual(const struct vmhost *h, const char *sw)
{
	const char *t = sw_get(h, "type", sw);

	return t && strcmp(t, "manual") == 0;
}

/* The bridge of switch SW into br. */
static void sw_bridge(const struct vmhost *h, const char *sw, char br[NLK_NAMESZ])
{
	const char *b = sw_manual(h, sw) ? sw_get(h, "bridge", sw) : NULL;

	if (b != NULL)
		snprintf(br, NLK_NAMESZ, "%s", b);
	else
		snprintf(br, NLK_NAMESZ, "vm-%.*s", SW_NAME_MAX, sw);
}

/* Switch names: letters, digits and _ (they are part of system.conf's keys),
 * at most SW_NAME_MAX characters (they are part of the bridge's name). */
static int sw_check_name(const char *sw)
{
	size_t n = strlen(sw);

	if (n == 0 || !isalnum((unsigned char)sw[0]))
		return vm_err("invalid switch name '%s' (letters, digits and _, starting with a letter or digit)", sw);
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)sw[i]) && sw[i] != '_')
			return vm_err("invalid switch name '%s' (letters, digits and _, starting with a letter or digit)", sw);
	if (n > SW_NAME_MAX)
		return vm_err("switch name '%s' is too long: at most %d characters (its bridge vm-%s must fit in %d)",
		    sw, SW_NAME_MAX, sw, NLK_NAMESZ - 1);
	return 0;
}

static bool sw_private(const struct vmhost *h, const char *sw)
{
	char k[64];

	snprintf(k, sizeof(k), "private_%s", sw);
	return conf_get_bool(h->sys, k);
}

static int sw_need(const struct vmhost *h, const char *sw)
{
	if (!sw_exists(h, sw))
		return vm_err("switch %s does not exist (vm switch list shows them)", sw);
	return 0;
}

static int check_vlan(const char *s, bool zero_ok, unsigned *vid)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || v > 4094 || (v == 0 && !zero_ok))
		return vm_err("invalid vlan number '%s' (%s to 4094)", s, zero_ok ? "0 (none)" : "1");
	*vid = (unsigned)v;
	return 0;
}

static int check_mtu(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)*s) || *end || errno || v < 68 || v > 9000)
		return vm_err("invalid mtu '%s' (68 to 9000)", s);
	return 0;
}

static int check_addr(const char *s)
{
	if (!nlk_cidr_valid(s))
		return vm_err("invalid address '%s': give it in CIDR notation (a.b.c.d/prefix-len)", s);
	return 0;
}

/* The interface a member joins the bridge through: itself, or IFACE.VLAN. */
static int member_name(const char *port, const char *vlan, char out[NLK_NAMESZ])
{
	int n = vlan ? snprintf(out, NLK_NAMESZ, "%s.%s", port, vlan) : snprintf(out, NLK_NAMESZ, "%s", port);

	if (n < 0 || n >= NLK_NAMESZ)
		return vm_err("interface name %s%s%s is too long (at most %d characters)", port,
		    vlan ? "." : "", vlan ? vlan : "", NLK_NAMESZ - 1);
	return 0;
}

/* Member PORT of switch SW: exists, is in no other bridge, and its name (with
 * the VLAN) fits. */
static int check_member(const struct vmhost *h, const char *sw, const char *port, const char *vlan)
{
	struct nlk_link l, b;
	char br[NLK_NAMESZ], m[NLK_NAMESZ];
	int e;

	if (strlen(port) >= NLK_NAMESZ)
		return vm_err("interface name %s is too long (at most %d characters)", port, NLK_NAMESZ - 1);
	if ((e = nlk_get(port, &l)) < 0)
		return e == -NLE_OBJ_NOTFOUND ? vm_err("interface %s does not exist", port)
		    : vm_err("interface %s: %s", port, nlk_strerror(e));
	if (member_name(port, vlan, m) != 0)
		return 1;
	if (strcmp(l.kind, "bridge") == 0)
		return vm_err("interface %s is a bridge: a bridge cannot be a member of switch %s", port, sw);
	sw_bridge(h, sw, br);
	if (!vlan && l.master != 0 && (nlk_get(br, &b) != 0 || b.ifindex != l.master))
		return vm_err("interface %s is already a member of another bridge", port);
	return 0;
}

/* Joins PORT to bridge BR (ifindex) as switch SW wants it. */
static int port_join(const struct vmhost *h, const char *sw, int br, const char *port)
{
	const char *vlan = sw_get(h, "vlan", sw), *mtus = sw_get(h, "mtu", sw);
	unsigned mtu = mtus ? (unsigned)strtoul(mtus, NULL, 10) : 0, vid = 0;
	struct nlk_link l, v;
	char m[NLK_NAMESZ];
	int e;

	if (check_member(h, sw, port, vlan) != 0 || nlk_get(port, &l) != 0)
		return 1;
	if (vlan && check_vlan(vlan, false, &vid) != 0)
		return 1;
	member_name(port, vlan, m);
	/* The VLAN interface first: nothing is changed when it cannot be made. */
	if (vlan) {
		e = nlk_get(m, &v);
		if (e == 0 && strcmp(v.kind, "vlan") != 0)
			return vm_err("switch %s: %s exists and is not a VLAN interface", sw, m);
		if (e != 0 && (e = nlk_vlan_add(m, l.ifindex, vid)) < 0)
			return vm_err("switch %s: cannot make VLAN interface %s: %s%s", sw, m, nlk_strerror(e),
			    e == -NLE_OPNOTSUPP ? " (this kernel has no 802.1Q VLAN support: "
			    "modprobe 8021q, or a kernel with CONFIG_VLAN_8021Q)" : "");
	}
	if (mtu && (e = nlk_set(l.ifindex, mtu, -1, -1)) < 0)
		return vm_err("switch %s: cannot set mtu %u on %s: %s", sw, mtu, port, nlk_strerror(e));
	if ((e = nlk_set(l.ifindex, 0, 1, -1)) < 0)
		return vm_err("switch %s: cannot bring %s up: %s", sw, port, nlk_strerror(e));
	if (vlan) {
		if ((e = nlk_get(m, &l)) < 0)
			return vm_err("switch %s: %s: %s", sw, m, nlk_strerror(e));
		if (mtu && (e = nlk_set(l.ifindex, mtu, -1, -1)) < 0)
			return vm_err("switch %s: cannot set mtu %u on %s: %s", sw, mtu, m, nlk_strerror(e));
	}
	if (l.master != br && (e = nlk_set(l.ifindex, 0, 1, br)) < 0)
		return vm_err("switch %s: cannot add %s to its bridge: %s", sw, m, nlk_strerror(e));
	if ((e = nlk_set(l.ifindex, 0, 1, -1)) < 0)
		return vm_err("switch %s: cannot bring %s up: %s", sw, m, nlk_strerror(e));
	return 0;
}

/* Takes PORT out of switch SW's bridge (BR, ifindex), with VLAN VLAN (NULL:
 * none): the VLAN interface made for it is removed. Quiet when it is gone. */
static int port_leave(const char *sw, int br, const char *port, const char *vlan)
{
	struct nlk_link l;
	char m[NLK_NAMESZ];
	int e;

	if (member_name(port, vlan, m) != 0 || nlk_get(m, &l) != 0)
		return 0;
	if (vlan && strcmp(l.kind, "vlan") == 0)
		e = nlk_del(l.ifindex);
	else if (l.master == br && br != 0)
		e = nlk_set(l.ifindex, 0, -1, 0);
	else
		return 0;
	if (e < 0)
		return vm_err("switch %s: cannot take %s out of it: %s", sw, m, nlk_strerror(e));
	return 0;
}

/* Calls fn for every member of switch SW (ports_SW); stops at non-zero. */
static int each_port(const struct vmhost *h, const char *sw, int (*fn)(const struct vmhost *,
    const char *, int, const char *), int br)
{
	const char *ports = sw_get(h, "ports", sw);
	char *list, *w, *save = NULL;
	int rc = 0;

	if (ports == NULL)
		return 0;
	if ((list = strdup(ports)) == NULL)
		return vm_err("out of memory");
	for (w = strtok_r(list, " \t", &save); w && rc == 0; w = strtok_r(NULL, " \t", &save))
		rc = fn(h, sw, br, w);
	free(list);
	return rc;
}

static int join_fn(const struct vmhost *h, const char *sw, int br, const char *port)
{
	return port_join(h, sw, br, port);
}

static int leave_fn(const struct vmhost *h, const char *sw, int br, const char *port)
{
	return port_leave(sw, br, port, sw_get(h, "vlan", sw));
}

/* Brings switch SW to what system.conf says: its bridge (made if missing,
 * *made set then), STP off, MTU, up, address, members. */
static int sw_apply(const struct vmhost *h, const char *sw, bool *made)
{
	const char *mtus = sw_get(h, "mtu", sw), *addr = sw_get(h, "addr", sw);
	char br[NLK_NAMESZ];
	struct nlk_link b;
	int e;

	if (made)
		*made = false;
	sw_bridge(h, sw, br);
	e = nlk_get(br, &b);
	if (sw_manual(h, sw)) {
		if (sw_get(h, "bridge", sw) == NULL)
			return vm_err("switch %s: manual switch without bridge_%s in %s", sw, sw, h->sys_path);
		if (e < 0 || strcmp(b.kind, "bridge") != 0)
			return vm_err("switch %s: bridge %s %s", sw, br, e < 0 ? "does not exist" : "is not a bridge");
		if ((e = nlk_set(b.ifindex, 0, 1, -1)) < 0)
			return vm_err("switch %s: cannot bring %s up: %s", sw, br, nlk_strerror(e));
		return 0;
	}
	if (e == 0 && strcmp(b.kind, "bridge") != 0)
		return vm_err("switch %s: %s exists and is not a bridge", sw, br);
	if (e < 0) {
		/* Another vm (a guest starting) may have made it just now. */
		if ((e = nlk_bridge_add(br)) < 0 && e != -NLE_EXIST)
			return vm_err("switch %s: cannot make bridge %s: %s%s", sw, br, nlk_strerror(e),
			    e == -NLE_OPNOTSUPP ? " (no bridge support in this kernel: modprobe bridge)" : "");
		if (made && e == 0)
			*made = true;
		if ((e = nlk_get(br, &b)) < 0)
			return vm_err("switch %s: %s: %s", sw, br, nlk_strerror(e));
	}
	if ((e = nlk_bridge_nostp(b.ifindex)) < 0)
		return vm_err("switch %s: cannot turn STP off on %s: %s", sw, br, nlk_strerror(e));
	if (mtus && (e = nlk_set(b.ifindex, (unsigned)strtoul(mtus, NULL, 10), -1, -1)) < 0)
		return vm_err("switch %s: cannot set mtu %s on %s: %s", sw, mtus, br, nlk_strerror(e));
	if ((e = nlk_set(b.ifindex, 0, 1, -1)) < 0)
		return vm_err("switch %s: cannot bring %s up: %s", sw, br, nlk_strerror(e));
	if (addr && (e = nlk_addr(b.ifindex, addr, true)) < 0 && e != -NLE_EXIST)
		return vm_err("switch %s: cannot put address %s on %s: %s", sw, addr, br, nlk_strerror(e));
	return each_port(h, sw, join_fn, b.ifindex);
}

/* Takes every member out of standard switch SW's bridge and removes it. */
static int sw_teardown(const struct vmhost *h, const char *sw)
{
	char br[NLK_NAMESZ];
	struct nlk_link b;
	int e, rc;

	sw_bridge(h, sw, br);
	if (nlk_get(br, &b) != 0)
		b.ifindex = 0;
	rc = each_port(h, sw, leave_fn, b.ifindex);
	if (b.ifindex && strcmp(b.kind, "bridge") == 0 && (e = nlk_del(b.ifindex)) < 0)
		return vm_err("switch %s: cannot remove bridge %s: %s", sw, br, nlk_strerror(e));
	return rc;
}

/* ---- guests on switches */

/* From a tap's alias "vmnet-GUEST-N-SWITCH": GUEST into guest, N into *idx.
 * Switch names have no '-', so the last two '-' split it. */
static bool tap_alias_parse(const char *alias, char *guest, size_t gn, int *idx)
{
	const char *g, *sw, *n;
	char *end;
	long v;

	if (strncmp(alias, "vmnet-", 6) != 0)
		return false;
	g = alias + 6;
	if ((sw = strrchr(g, '-')) == NULL)
		return false;
	for (n = sw - 1; n > g && *n != '-'; n--)
		;
	if (n <= g || !isdigit((unsigned char)n[1]))
		return false;
	v = strtol(n + 1, &end, 10);
	if (end != sw || v < 0)
		return false;
	if ((size_t)(n - g) >= gn)
		return false;
	memcpy(guest, g, (size_t)(n - g));
	guest[n - g] = '\0';
	*idx = (int)v;
	return true;
}

struct guest_ports {
	int n;
	char first[NLK_NAMESZ], guest[64];
	bool isolate, set_isolation;
	int err;
};

/* Counts (and with set_isolation, isolates or not) the guest taps on a bridge. */
static int guest_port_fn(const struct nlk_link *l, void *arg)
{
	struct guest_ports *g = arg;
	char guest[64];
	int idx, e;

	if (!tap_alias_parse(l->alias, guest, sizeof(guest), &idx))
		return 0;
	if (g->n++ == 0) {
		snprintf(g->first, sizeof(g->first), "%s", l->name);
		snprintf(g->guest, sizeof(g->guest), "%s", guest);
	}
	if (g->set_isolation && (e = nlk_port_isolate(l->ifindex, g->isolate)) < 0 && g->err == 0)
		g->err = vm_err("cannot change isolation of %s: %s", l->name, nlk_strerror(e));
	return 0;
}

int net_tap_create(const struct vmhost *h, const char *guest, int idx,
    const char *sw, char *ifname, size_t n)
{
	char name[NLK_NAMESZ], br[NLK_NAMESZ], alias[160];
	const char *mtus;
	struct nlk_link b, t;
	unsigned mtu = 0;
	int e;

	if (sw && *sw) {
		if (!sw_exists(h, sw))
			return vm_err("%s: network%d: switch %s does not exist (vm switch list shows them)",
			    guest, idx, sw);
		sw_bridge(h, sw, br);
		/* A switch whose bridge is gone (a host reboot without vm init). */
		if (nlk_get(br, &b) != 0 && (sw_apply(h, sw, NULL) != 0 || nlk_get(br, &b) != 0))
			return 1;
		if ((mtus = sw_get(h, "mtu", sw)) != NULL)
			mtu = (unsigned)strtoul(mtus, NULL, 10);
		else
			mtu = b.mtu;
	}
	if ((e = nlk_tap_add("tap%d", name)) < 0)
		return vm_err("%s: network%d: cannot make a tap through /dev/net/tun: %s", guest, idx,
		    nlk_strerror(e));
	if ((size_t)snprintf(ifname, n, "%s", name) >= n) {
		e = -NLE_RANGE;
		goto fail;
	}
	snprintf(alias, sizeof(alias), "vmnet-%s-%d-%s", guest, idx, sw ? sw : "");
	if ((e = nlk_get(name, &t)) < 0 || (e = nlk_set_alias(t.ifindex, alias)) < 0 ||
	    (e = nlk_set(t.ifindex, mtu, -1, -1)) < 0)
		goto fail;
	if (sw && *sw) {
		if ((e = nlk_set(t.ifindex, 0, -1, b.ifindex)) < 0)
			goto fail;
		if (sw_private(h, sw) && (e = nlk_port_isolate(t.ifindex, true)) < 0)
				goto fail;
	}
	if ((e = nlk_set(t.ifindex, 0, 1, -1)) < 0)
		goto fail;
	return 0;
fail:
	net_tap_destroy(name);
	return vm_err("%s: network%d: tap %s: %s", guest, idx, name, nlk_strerror(e));
}

void net_tap_destroy(const char *ifname)
{
	struct nlk_link l;

	if (ifname && *ifname && nlk_get(ifname, &l) == 0 && strcmp(l.kind, "tun") == 0)
		nlk_del(l.ifindex);
}

int net_iface_bytes(const char *ifname, uint64_t *in, uint64_t *out)
{
	struct nlk_link l;

	*in = *out = 0;
	if (nlk_get(ifname, &l) != 0)
		return -1;
	*in = l.rx_bytes;
	*out = l.tx_bytes;
	return 0;
}

struct tap_find {
	const char *guest;
	int idx;
	char *ifname;
	size_t n;
};

static int tap_find_fn(const struct nlk_link *l, void *arg)
{
	struct tap_find *f = arg;
	char guest[64];
	int idx;

	if (strcmp(l->kind, "tun") != 0 || !tap_alias_parse(l->alias, guest, sizeof(guest), &idx) ||
	    idx != f->idx || strcmp(guest, f->guest) != 0)
		return 0;
	snprintf(f->ifname, f->n, "%s", l->name);
	return 1;
}

int net_tap_find(const char *guest, int idx, char *ifname, size_t n)
{
	struct tap_find f = { guest, idx, ifname, n };

	return nlk_ports(-1, tap_find_fn, &f) == 1 ? 0 : -1;
}

struct tap_reap {
	const char *guest;
	int n;
};

static int tap_reap_fn(const struct nlk_link *l, void *arg)
{
	struct tap_reap *r = arg;
	char guest[64];
	int idx;

	if (strcmp(l->kind, "tun") == 0 && tap_alias_parse(l->alias, guest, sizeof(guest), &idx) &&
	    strcmp(guest, r->guest) == 0 && nlk_del(l->ifindex) == 0)
		r->n++;
	return 0;
}

int net_tap_reap(const char *guest)
{
	struct tap_reap r = { guest, 0 };

	nlk_ports(-1, tap_reap_fn, &r);
	return r.n;
}

int switch_init_all(struct vmhost *h)
{
	const char *list = conf_get(h->sys, "switch_list");
	char *l, *w, *save = NULL;
	int rc = 0;

	if (list == NULL || *list == '\0')
		return 0;
	if ((l = strdup(list)) == NULL)
		return vm_err("out of memory");
	for (w = strtok_r(l, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		if (sw_apply(h, w, NULL) != 0)
			rc = -1;
	free(l);
	return rc;
}

/* ---- the commands */

static const char *const sw_keys[] = { "type", "ports", "vlan", "addr", "mtu", "private", "bridge", "nat" };

static int sw_create(struct vmhost *h, int argc, char **argv)
{
	const char *type = "standard", *iface = NULL, *vlan = NULL, *bridge = NULL, *mtu = NULL,
	    *addr = NULL, *sw;
	bool priv = false, made = false;
	unsigned vid;
	struct nlk_link b;
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, "+t:i:n:b:a:m:p")) != -1) {
		switch (c) {
		case 't': type = optarg; break;
		case 'i': iface = optarg; break;
		case 'n': vlan = optarg; break;
		case 'b': bridge = optarg; break;
		case 'a': addr = optarg; break;
		case 'm': mtu = optarg; break;
		case 'p': priv = true; break;
		default:
			return vm_err("switch create: unknown option -%c or missing value (usage: vm switch create [-t standard|manual] [-i iface] [-n vlan] [-b bridge] [-m mtu] [-a addr/len] [-p] name)", optopt);
		}
	}
	if (optind != argc - 1)
		return vm_err("usage: vm switch create [-t standard|manual] [-i iface] [-n vlan] [-b bridge] [-m mtu] [-a addr/len] [-p] name");
	sw = argv[optind];
	if (sw_check_name(sw) != 0)
		return 1;
	if (sw_exists(h, sw))
		return vm_err("switch %s already exists", sw);
	if (strcmp(type, "standard") != 0 && strcmp(type, "manual") != 0)
		return vm_err("invalid switch type '%s' (standard or manual; vale and vxlan are FreeBSD's)", type);
	if (vlan && check_vlan(vlan, false, &vid) != 0)
		return 1;
	if (addr && check_addr(addr) != 0)
		return 1;
	if (mtu && check_mtu(mtu) != 0)
		return 1;
	if (strcmp(type, "manual") == 0) {
		if (iface || vlan || addr || mtu)
			return vm_err("a manual switch takes only -b and -p: its bridge is set up outside vm");
		if (bridge == NULL)
			return vm_err("a manual switch needs the existing bridge it uses: -b bridge");
		if (strlen(bridge) >= NLK_NAMESZ || nlk_get(bridge, &b) != 0)
			return vm_err("bridge %s does not exist", bridge);
		if (strcmp(b.kind, "bridge") != 0)
			return vm_err("%s is not a bridge", bridge);
	} else if (bridge) {
		return vm_err("-b names the bridge of a manual switch (-t manual); a standard switch makes vm-%s", sw);
	}
	if (iface && check_member(h, sw, iface, vlan) != 0)
		return 1;
	if (conf_list_add(h->sys, "switch_list", sw) != 0 || sw_set(h, "type", sw, type) ||
	    sw_set(h, "ports", sw, iface) || sw_set(h, "vlan", sw, vlan) || sw_set(h, "addr", sw, addr) ||
	    sw_set(h, "mtu", sw, mtu) || sw_set(h, "private", sw, priv ? "yes" : NULL) ||
	    sw_set(h, "bridge", sw, bridge))
		return vm_err("out of memory");
	if (sw_apply(h, sw, &made) != 0) {
		if (made)
			sw_teardown(h, sw);
		return 1;
	}
	return host_save_sys(h);
}

static int sw_destroy(struct vmhost *h, const char *sw)
{
	struct guest_ports g = { 0 };
	char br[NLK_NAMESZ];
	struct nlk_link b;

	if (sw_need(h, sw) != 0)
		return 1;
	sw_bridge(h, sw, br);
	if (nlk_get(br, &b) == 0) {
		nlk_ports(b.ifindex, guest_port_fn, &g);
		if (g.n > 0)
			return vm_err("switch %s has %d guest port%s (%s of %s%s): stop the guest%s first", sw,
			    g.n, g.n > 1 ? "s" : "", g.first, g.guest, g.n > 1 ? " and more" : "",
			    g.n > 1 ? "s" : "");
	}
	if (!sw_manual(h, sw) && sw_teardown(h, sw) != 0)
		return 1;
	conf_list_remove(h->sys, "switch_list", sw);
	if (conf_get(h->sys, "switch_list") && !*conf_get(h->sys, "switch_list"))
		conf_set(h->sys, "switch_list", NULL);
	for (size_t i = 0; i < sizeof(sw_keys) / sizeof(sw_keys[0]); i++)
		sw_set(h, sw_keys[i], sw, NULL);
	return host_save_sys(h);
}

/* The bridge of a standard switch SW for a change: -1 after a line if it
 * is manual; made when missing. */
static int sw_standard_bridge(struct vmhost *h, const char *sw, const char *what, struct nlk_link *b)
{
	char br[NLK_NAMESZ];

	if (sw_need(h, sw) != 0)
		return -1;
	if (sw_manual(h, sw)) {
		vm_err("switch %s is manual: %s %s set up outside vm, on its bridge", sw, what,
		    strcmp(what, "members") == 0 ? "are" : "is");
		return -1;
	}
	sw_bridge(h, sw, br);
	if (nlk_get(br, b) != 0 && (sw_apply(h, sw, NULL) != 0 || nlk_get(br, b) != 0))
		return -1;
	return 0;
}

static int sw_add(struct vmhost *h, const char *sw, const char *port)
{
	struct nlk_link b, l;
	char k[64];

	if (sw_standard_bridge(h, sw, "members", &b) != 0)
		return 1;
	snprintf(k, sizeof(k), "ports_%s", sw);
	if (conf_list_has(h->sys, k, port))
		return vm_err("%s is already a member of switch %s", port, sw);
	if (check_member(h, sw, port, sw_get(h, "vlan", sw)) != 0)
		return 1;
	if (nlk_get(port, &l) == 0 && l.master == b.ifindex)
		return vm_err("%s is already a member of switch %s", port, sw);
	if (port_join(h, sw, b.ifindex, port) != 0)
		return 1;
	if (conf_list_add(h->sys, k, port) != 0)
		return vm_err("out of memory");
	return host_save_sys(h);
}

static int sw_remove(struct vmhost *h, const char *sw, const char *port)
{
	struct nlk_link b;
	char k[64];

	if (sw_standard_bridge(h, sw, "members", &b) != 0)
		return 1;
	snprintf(k, sizeof(k), "ports_%s", sw);
	if (!conf_list_has(h->sys, k, port))
		return vm_err("%s is not a member of switch %s", port, sw);
	if (port_leave(sw, b.ifindex, port, sw_get(h, "vlan", sw)) != 0)
		return 1;
	conf_list_remove(h->sys, k, port);
	if (sw_get(h, "ports", sw) == NULL)
		sw_set(h, "ports", sw, NULL);
	return host_save_sys(h);
}

static int sw_vlan(struct vmhost *h, const char *sw, const char *vlan)
{
	struct nlk_link b;
	unsigned vid;

	if (sw_need(h, sw) != 0 || check_vlan(vlan, true, &vid) != 0)
		return 1;
	if (sw_standard_bridge(h, sw, "its VLAN", &b) != 0)
		return 1;
	if (each_port(h, sw, leave_fn, b.ifindex) != 0)
		return 1;
	if (sw_set(h, "vlan", sw, vid ? vlan : NULL) != 0)
		return 1;
	if (each_port(h, sw, join_fn, b.ifindex) != 0)
		return 1;
	return host_save_sys(h);
}

static int sw_address(struct vmhost *h, const char *sw, const char *addr)
{
	const char *old;
	struct nlk_link b;
	int e;

	if (sw_need(h, sw) != 0)
		return 1;
	if (strcmp(addr, "none") != 0 && check_addr(addr) != 0)
		return 1;
	if (sw_standard_bridge(h, sw, "its address", &b) != 0)
		return 1;
	if ((old = sw_get(h, "addr", sw)) != NULL && (e = nlk_addr(b.ifindex, old, false)) < 0 &&
	    e != -NLE_NOADDR && e != -NLE_OBJ_NOTFOUND)
		return vm_err("switch %s: cannot remove address %s: %s", sw, old, nlk_strerror(e));
	if (strcmp(addr, "none") != 0 && (e = nlk_addr(b.ifindex, addr, true)) < 0 && e != -NLE_EXIST)
		return vm_err("switch %s: cannot put address %s on %s: %s", sw, addr, b.name, nlk_strerror(e));
	if (sw_set(h, "addr", sw, strcmp(addr, "none") == 0 ? NULL : addr) != 0)
		return 1;
	return host_save_sys(h);
}

static int sw_private_cmd(struct vmhost *h, const char *sw, const char *v)
{
	struct guest_ports g = { 0 };
	char br[NLK_NAMESZ];
	struct nlk_link b;
	bool on;

	if (sw_need(h, sw) != 0)
		return 1;
	if (!strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcmp(v, "1"))
		on = true;
	else if (!strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcasecmp(v, "false") || !strcmp(v, "0"))
		on = false;
	else
		return vm_err("switch private: '%s' is neither yes nor no", v);
	if (sw_set(h, "private", sw, on ? "yes" : "no") != 0)
		return 1;
	/* Guests already on it follow at once. */
	sw_bridge(h, sw, br);
	g.set_isolation = true;
	g.isolate = on;
	if (nlk_get(br, &b) == 0)
		nlk_ports(b.ifindex, guest_port_fn, &g);
	if (g.err)
		return 1;
	return host_save_sys(h);
}

/* vm switch list: vm-bhyve's columns, laid out as column -t does (each
 * column as wide as its widest cell, two spaces between). */
enum { LIST_COLS = 8 };

static int list_row(const struct vmhost *h, const char *sw, char cell[LIST_COLS][256])
{
	char br[NLK_NAMESZ];
	struct nlk_link b;
	const char *v;

	sw_bridge(h, sw, br);
	snprintf(cell[0], 256, "%s", sw);
	if (sw_manual(h, sw)) {
		snprintf(cell[1], 256, "manual");
		snprintf(cell[2], 256, "%s", (v = sw_get(h, "bridge", sw)) ? v : "-");
		snprintf(cell[3], 256, "n/a");
		snprintf(cell[4], 256, "%s", sw_private(h, sw) ? "yes" : "no");
		for (int i = 5; i < LIST_COLS; i++)
			snprintf(cell[i], 256, "n/a");
		return 0;
	}
	snprintf(cell[1], 256, "standard");
	snprintf(cell[2], 256, "%s", nlk_get(br, &b) == 0 ? br : "-");
	snprintf(cell[3], 256, "%s", (v = sw_get(h, "addr", sw)) ? v : "-");
	snprintf(cell[4], 256, "%s", sw_private(h, sw) ? "yes" : "no");
	snprintf(cell[5], 256, "%s", (v = sw_get(h, "mtu", sw)) ? v : "-");
	snprintf(cell[6], 256, "%s", (v = sw_get(h, "vlan", sw)) ? v : "-");
	snprintf(cell[7], 256, "%s", (v = sw_get(h, "ports", sw)) ? v : "-");
	return 0;
}

static int sw_list(struct vmhost *h)
{
	static const char *const hdr[LIST_COLS] = { "NAME", "TYPE", "IFACE", "ADDRESS", "PRIVATE",
	    "MTU", "VLAN", "PORTS" };
	const char *list = conf_get(h->sys, "switch_list");
	char *l = strdup(list ? list : ""), *w, *save = NULL;
	char (*rows)[LIST_COLS][256];
	size_t nrows = 1, width[LIST_COLS] = { 0 };

	if (l == NULL)
		return vm_err("out of memory");
	/* At most one row per word, and the header. */
	rows = calloc(strlen(l) / 2 + 2, sizeof(*rows));
	if (rows == NULL) {
		free(l);
		return vm_err("out of memory");
	}
	for (int i = 0; i < LIST_COLS; i++)
		snprintf(rows[0][i], 256, "%s", hdr[i]);
	for (w = strtok_r(l, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
		list_row(h, w, rows[nrows++]);
	for (size_t r = 0; r < nrows; r++)
		for (int i = 0; i < LIST_COLS; i++)
			if (strlen(rows[r][i]) > width[i])
				width[i] = strlen(rows[r][i]);
	for (size_t r = 0; r < nrows; r++)
		for (int i = 0; i < LIST_COLS; i++)
			if (i < LIST_COLS - 1)
				printf("%-*s  ", (int)width[i], rows[r][i]);
			else
				printf("%s\n", rows[r][i]);
	free(rows);
	free(l);
	return 0;
}

/* vm-bhyve's bytes: N scaled by 1024 to B, K, M, G or T, three decimals. */
static void bytes_human(uint64_t n, char *buf, size_t bn)
{
	static const char units[] = "BKMGT";
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v = (double)(uint64_t)(v / 1024 * 1000) / 1000;
		u++;
	}
	snprintf(buf, bn, "%.3f%c", v, units[u]);
}

static int info_port_fn(const struct nlk_link *l, void *arg)
{
	char guest[64];
	int idx;

	(void)arg;
	if (strcmp(l->kind, "tun") != 0)
		return 0;
	if (!tap_alias_parse(l->alias, guest, sizeof(guest), &idx))
		snprintf(guest, sizeof(guest), "-");
	printf("\n  virtual-port\n    device: %s\n    vm: %s\n", l->name, guest);
	return 0;
}

static int sw_info(struct vmhost *h, int argc, char **argv)
{
	const char *list = conf_get(h->sys, "switch_list"), *v;
	char *l, *save = NULL, br[NLK_NAMESZ], hin[32], hout[32];
	struct nlk_link b;
	bool have;

	for (int i = 0; i < argc; i++)
		if (sw_need(h, argv[i]) != 0)
			return 1;
	if ((l = strdup(list ? list : "")) == NULL)
		return vm_err("out of memory");
	for (int i = 0;; i++) {
		const char *sw;

		if (argc > 0)
			sw = i < argc ? argv[i] : NULL;
		else
			sw = strtok_r(i == 0 ? l : NULL, " \t", &save);
		if (sw == NULL)
			break;
		sw_bridge(h, sw, br);
		have = nlk_get(br, &b) == 0;
		printf("------------------------\nVirtual Switch: %s\n------------------------\n", sw);
		printf("  type: %s\n", sw_manual(h, sw) ? "manual" : "standard");
		printf("  ident: %s\n", have ? br : "-");
		printf("  vlan: %s\n", (v = sw_get(h, "vlan", sw)) ? v : "-");
		printf("  physical-ports: %s\n", (v = sw_get(h, "ports", sw)) ? v : "-");
		if (have) {
			bytes_human(b.rx_bytes, hin, sizeof(hin));
			bytes_human(b.tx_bytes, hout, sizeof(hout));
			printf("  bytes-in: %llu (%s)\n  bytes-out: %llu (%s)\n",
			    (unsigned long long)b.rx_bytes, hin, (unsigned long long)b.tx_bytes, hout);
			nlk_ports(b.ifindex, info_port_fn, NULL);
		}
		printf("\n");
	}
	free(l);
	return 0;
}

static int need_args(int argc, int n, const char *usage)
{
	if (argc != n)
		return vm_err("usage: vm switch %s", usage);
	return 0;
}

int cmd_switch(struct vmhost *h, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : "list";
	char ifname[NLK_NAMESZ];

	if (host_need_dir(h) != 0)
		return 1;
	argc -= 1, argv += 1;
	if (strcmp(sub, "list") == 0)
		return argc > 1 ? vm_err("usage: vm switch list") : sw_list(h);
	if (strcmp(sub, "info") == 0)
		return sw_info(h, argc - 1, argv + 1);
	if (strcmp(sub, "create") == 0)
		return sw_create(h, argc, argv);
	if (strcmp(sub, "destroy") == 0)
		return need_args(argc, 2, "destroy name") ? 1 : sw_destroy(h, argv[1]);
	if (strcmp(sub, "add") == 0)
		return need_args(argc, 3, "add name interface") ? 1 : sw_add(h, argv[1], argv[2]);
	if (strcmp(sub, "remove") == 0)
		return need_args(argc, 3, "remove name interface") ? 1 : sw_remove(h, argv[1], argv[2]);
	if (strcmp(sub, "vlan") == 0)
		return need_args(argc, 3, "vlan name vlan-id|0") ? 1 : sw_vlan(h, argv[1], argv[2]);
	if (strcmp(sub, "address") == 0)
		return need_args(argc, 3, "address name a.b.c.d/len|none") ? 1 : sw_address(h, argv[1], argv[2]);
	if (strcmp(sub, "private") == 0)
		return need_args(argc, 3, "private name yes|no") ? 1 : sw_private_cmd(h, argv[1], argv[2]);
	if (strcmp(sub, "nat") == 0)
		return vm_err("switch nat: not supported (vm-bhyve has it disabled too): give the switch an address and set up NAT in the firewall");
	/* Not for users: see the top of this file. */
	if (strcmp(sub, "_init") == 0)
		return switch_init_all(h) == 0 ? 0 : 1;
	if (strcmp(sub, "_tap") == 0) {
		if (need_args(argc, 4, "_tap switch guest index"))
			return 1;
		if (net_tap_create(h, argv[2], atoi(argv[3]), argv[1], ifname, sizeof(ifname)) != 0)
			return 1;
		printf("%s\n", ifname);
		return 0;
	}
	if (strcmp(sub, "_reap") == 0) {
		if (need_args(argc, 2, "_reap guest"))
			return 1;
		printf("%d\n", net_tap_reap(argv[1]));
		return 0;
	}
	if (strcmp(sub, "_untap") == 0) {
		if (need_args(argc, 2, "_untap interface"))
			return 1;
		net_tap_destroy(argv[1]);
		return 0;
	}
	return vm_err("switch: unknown subcommand '%s' (list, info, create, destroy, add, remove, vlan, address, private)", sub);
}
