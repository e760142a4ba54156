/* vm(8): vm-bhyve's workflow on Linux (docs/vm.8). One program, bin/vm, whose
 * commands live in the files named below; this header is what they share.
 *
 *   main.c        the command table, `vm help`
 *   util.c        errors, the tools' paths
 *   conf.c        vm-bhyve's configuration files (key="value" lines)
 *   host.c        host settings, vm init, datastores, guest lookup
 *   guest.c       create, destroy, rename, add, set, get, configure, templates
 *   list.c        list and info (with --json)
 *   images.c      iso, img, clone, snapshot, rollback
 *   run.c         the bhyve command line a guest's configuration makes
 *   supervisor.c  start, stop, restart, reset, poweroff, startall, stopall,
 *                 install, and the per-guest supervisor process
 *   console.c     vm console
 *   switch.c      vm switch (Linux bridges), taps for guests
 *   netlink.c     rtnetlink through libnl-route-3
 *   zfs.c         ZFS datastores, zvol disks (zfs(8))
 */
#ifndef VM_H
#define VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- conf.c: files of `key="value"` lines, as vm-bhyve and sysrc write them.
 * Comments and blank lines are kept when a file is saved; a key set again
 * keeps its place, a new key goes at the end. Values may be quoted with " or '
 * or bare; they are saved as key="value". */
struct vmconf;

struct vmconf *conf_new(void);
/* NULL with errno set (ENOENT: no such file); a line that is not key=value
 * makes it fail with EINVAL after one line on stderr naming file and line. */
struct vmconf *conf_load(const char *path);
void conf_free(struct vmconf *c);
const char *conf_get(const struct vmconf *c, const char *key);	/* NULL if unset */
const char *conf_get_def(const struct vmconf *c, const char *key, const char *def);
/* yes, true, on, 1 (any case) are true; anything else, or unset, is false. */
bool conf_get_bool(const struct vmconf *c, const char *key);
/* value NULL removes the key. -1 (ENOMEM, or EINVAL for a bad key) on error. */
int conf_set(struct vmconf *c, const char *key, const char *value);
/* Written to PATH.tmp, then renamed over PATH. */
int conf_save(const struct vmconf *c, const char *path);
/* Keys in file order: i from 0 while conf_key returns non-NULL. */
const char *conf_key(const struct vmconf *c, size_t i);
/* Space-separated word lists (vm_list, switch_list, ports_NAME...). */
bool conf_list_has(const struct vmconf *c, const char *key, const char *word);
int conf_list_add(struct vmconf *c, const char *key, const char *word);
int conf_list_remove(struct vmconf *c, const char *key, const char *word);
/* A valid key: [A-Za-z_][A-Za-z0-9_]*. */
bool conf_key_valid(const char *key);

/* ---- host.c: host settings from $VM_CONF, else /etc/vm.conf (vm_enable,
 * vm_dir, vm_list, vm_delay); switch and datastore settings in
 * $vm_dir/.config/system.conf, as vm-bhyve keeps them. */
struct vmhost {
	char conf_path[4096];	/* the host settings file */
	struct vmconf *conf;	/* its settings (empty if the file is missing) */
	char vm_dir[4096];	/* vm_dir, "" while unset; a ZFS dataset's mountpoint */
	char zfs_dataset[4096];	/* vm_dir="zfs:DATASET": DATASET, else "" */
	char sys_path[4200];	/* $vm_dir/.config/system.conf */
	struct vmconf *sys;	/* its settings (empty if missing) */
};

/* Reads the host settings. -1 after one line when the file cannot be read. */
int host_load(struct vmhost *h);
/* Like host_load, and vm_dir must be set and initialised (vm init run):
 * -1 after one line saying which and how to fix it. */
int host_need_dir(struct vmhost *h);
int host_save_sys(const struct vmhost *h);
void host_free(struct vmhost *h);
/* A guest's directory (in any datastore) into dir; its datastore's name into
 * ds (may be NULL). -1 without a message when there is no such guest. */
int guest_find(const struct vmhost *h, const char *name, char *dir, size_t n,
    char *ds, size_t dsn);
/* vm-bhyve's rule for guest names: [A-Za-z0-9][-_.A-Za-z0-9]*[A-Za-z0-9], at
 * most 31 characters (bhyve's VM name limit). */
bool guest_name_valid(const char *name);
/* Datastore DS's directory into dir: "default" is vm_dir, others path_DS in
 * system.conf (iso datastores are not guest datastores). -1 if there is none. */
int datastore_dir(const struct vmhost *h, const char *ds, char *dir, size_t n);
/* The ZFS dataset of datastore DS ("zfs:DATASET") into out: 0, or -1 when DS
 * is not a ZFS datastore. */
int datastore_zfs(const struct vmhost *h, const char *ds, char *out, size_t n);
/* Guest NAME's own dataset (DATASTORE_DATASET/NAME, mounted at its directory)
 * into out when the guest is in a ZFS datastore and vm made it a dataset
 * there: 0; else -1 (no message): its files are handled as files. */
int guest_zfs(const struct vmhost *h, const char *name, char *out, size_t n);

/* ---- guest.c */
/* Writes the example templates missing from $vm_dir/.templates (vm init).
 * -1 after one line. */
int templates_install(const struct vmhost *h);
/* NAME's place (from 1) in the host's vm_list (autostart order), 0 if absent. */
int autostart_pos(const struct vmhost *h, const char *name);
/* A random (version 4) UUID, as uuidgen(1) makes for vm-bhyve. -1 if the
 * kernel gives no random bytes. */
int guest_uuid(char *out, size_t n);
/* Sizes as truncate(1) and vm-bhyve take them: digits with an optional K, M,
 * G, T (powers of 1024), optionally followed by B. -1 if malformed or zero. */
int parse_size(const char *s, uint64_t *bytes);

/* ---- supervisor.c: a guest's state, read from its run lock ($dir/run.lock,
 * "PID HOSTNAME") and runtime file ($dir/.run, conf format: pid, host,
 * tapN (interface of networkN), comN (console path), vnc (host:port)). */
enum guest_state {
	GUEST_STOPPED,
	GUEST_RUNNING,		/* bhyve runs, pid is the supervisor's */
	GUEST_BOOTLOADER,	/* the loader (grub-bhyve) runs */
	GUEST_LOCKED,		/* locked by another host (host names it) */
};
/* A lock left by a process that is gone is stale: removed, and STOPPED. */
enum guest_state guest_state(const char *dir, pid_t *pid, char *host, size_t hn);
/* The pid vm list and vm info show for a running guest, as vm-bhyve's
 * "Running (PID)" and "Bootloader (PID)" do: bhyve's (the process titled
 * "bhyve: NAME") or the loader's, from .run; the supervisor's (SUPERVISOR)
 * between two runs, when neither exists. */
pid_t guest_shown_pid(const char *dir, enum guest_state st, pid_t supervisor);

/* ---- switch.c / netlink.c: switches are bridges named vm-NAME. */
/* Makes a tap for a guest's network device IDX on switch SW (NULL or "": none),
 * up, with the switch's MTU, joined to its bridge. Its name into ifname. -1
 * after one line. */
int net_tap_create(const struct vmhost *h, const char *guest, int idx,
    const char *sw, char *ifname, size_t n);
void net_tap_destroy(const char *ifname);
/* Bytes received and sent by an interface (host's view). -1 if it is gone. */
int net_iface_bytes(const char *ifname, uint64_t *in, uint64_t *out);
/* Makes every switch system.conf lists that is missing (vm init, after a host
 * reboot). -1 after one line per switch that could not be made. */
int switch_init_all(struct vmhost *h);
/* vm-switch's own: the tap of guest GUEST's network device IDX (found by the
 * alias "vmnet-GUEST-IDX-SWITCH" net_tap_create gives it) into ifname. -1
 * without a message when there is none. */
int net_tap_find(const char *guest, int idx, char *ifname, size_t n);
/* Removes every tap of guest GUEST (by that alias), e.g. what a supervisor
 * killed with SIGKILL left. Returns how many it removed. */
int net_tap_reap(const char *guest);

/* ---- images.c: images for vm create -i and -C. */
/* Writes SRC as a raw disk image DST: copied sparse, unpacked (xz, gz, zstd)
 * or converted (qcow2, vmdk, vdi through qemu-img). -1 after one line. */
int image_to_disk(const char *src, const char *dst);
/* Writes a cloud-init NoCloud seed ISO (volume label cidata) at ISO for guest
 * NAME: meta-data, user-data with the public key in PUBKEY_FILE (NULL: none)
 * and network-config from NET ("ip=..;gateway=..;nameservers=..;hostname=..",
 * NULL: DHCP). -1 after one line. */
int cloudinit_seed(const char *iso, const char *name, const char *pubkey_file,
    const char *net);

/* ---- IMAGES (images.c, diskimage.c, cloudinit.c, snapshot.c): helpers
 * shared between them. */
/* Unpacks a compressed file SRC (xz, gzip, zstd, bzip2; found by its magic)
 * into DST, sparse. -1 after one line (DST removed). */
int image_unpack(const char *src, const char *dst);
/* true if the file starts with a compressed stream's magic (xz, gzip, zstd, bzip2). */
bool image_is_compressed(const char *path);

/* ---- run.c: the bhyve command line a guest's configuration makes (vm-bhyve's
 * vm::run). The device part is fixed for a start; what changes from one run to
 * the next (the install ISO, graphics_wait=auto) is applied by run_argv. */
#define RUN_MAX_NICS	8
#define RUN_MAX_COMS	4
struct strv {
	char **v;		/* NULL-terminated */
	int n, cap;
};
struct runplan {
	char name[32];
	char dir[4096];		/* the guest's directory */
	struct vmconf *conf;
	bool foreground;	/* com1 on stdio, loader menu on the terminal */
	bool dry_run;		/* no taps, nothing written */
	bool uefi;		/* a boot ROM (loader uefi*): no loader step */
	bool debug;		/* bhyve's stderr to DIR/bhyve.log */
	int nice;
	char iso[4096];		/* vm install: attached on run 1 only ("" none) */
	struct strv opts;	/* -c .. -m .. -A -H -P ... bhyve_options */
	struct strv devs;	/* -s ... (without the install ISO) */
	struct strv coms;	/* -l comN,... */
	struct strv loader;	/* grub-bhyve's argv for an install's run 1 */
	struct strv loader_after;	/* ... for other runs; both empty for boot ROMs */
	int fbuf_idx;		/* index in devs of the fbuf argument, -1 none */
	bool fbuf_auto_wait;	/* graphics_wait=auto: wait on run 1 only */
	int ntaps;
	char taps[RUN_MAX_NICS][16];
	bool tap_made[RUN_MAX_NICS];	/* made by net_tap_create (destroyed at the end) */
	int ncoms;
	char comname[RUN_MAX_COMS][8];	/* com1 ... */
	char compath[RUN_MAX_COMS][96];	/* /dev/nmdm-NAME.1B (users attach here) */
	char vnc[96];		/* host:port, "" without graphics */
};
/* Fills P from DIR/NAME.conf. Taps are made here (recorded in P even when a
 * later step fails: the caller destroys them). -1 after one line on stderr. */
int run_plan(const struct vmhost *h, const char *name, const char *dir,
    const char *iso, bool foreground, bool dry_run, struct runplan *p);
/* bhyve's argv for run RUN (1, 2, ...); strv_free it after use. */
int run_argv(const struct runplan *p, int run, struct strv *argv);
void run_plan_free(struct runplan *p);
int strv_add(struct strv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strv_free(struct strv *s);
/* The words of S joined by spaces into buf (for the log). */
void strv_join(const struct strv *s, int from, char *buf, size_t n);

/* ---- supervisor.c (more): the VM registry directory bhyve uses
 * ($BHYVE_VMM_DIR, else /dev/vmm for root). */
const char *vmm_dir(char *buf, size_t n);

/* ---- zfs.c: ZFS datastores ("zfs:POOL/DATASET"), each guest a dataset of
 * its own below it, zvol disks below that; zfs(8) makes the changes. */
/* Why ZFS cannot be used on this host (one phrase), or NULL. */
const char *zfs_missing(void);
/* The mountpoint of DATASET into dir; -1 (after one line unless QUIET) when it
 * is not mounted. */
int zfs_mountpoint(const char *dataset, char *dir, size_t n, bool quiet);
/* The ZFS dataset mounted at DIR into ds; -1 (no message) when DIR is not one. */
int zfs_dataset_at(const char *dir, char *ds, size_t n);
/* Runs zfs with the arguments (NULL-terminated), its standard output into out
 * (NULL: dropped). 0, or 1 after one line with zfs's own message (-1 and no
 * message when QUIET). */
int zfs_run(bool quiet, char *out, size_t outn, const char *arg, ...);
#define zfs_cmd(...) zfs_run(false, __VA_ARGS__)
/* The same without a message: -1 when zfs fails. */
#define zfs_query(...) zfs_run(true, __VA_ARGS__)
/* zfs destroy -rf DATASET, tried again for 2 s while it is busy. 0 once it is
 * gone; 1 after one line. */
int zfs_destroy(const char *dataset);
/* Whether DATASET (a filesystem, volume or snapshot) exists. */
bool zfs_exists(const char *dataset);
/* DATASET and the filesystems and volumes below it, a name a line (an error
 * if they do not fit in out). */
int zfs_children(const char *dataset, char *out, size_t n);
/* diskN_dev "zvol" or "sparse-zvol". */
bool zfs_disk_dev(const char *dev);
/* zfs create DATASET with OPTS ("prop=value ...", vm-bhyve's zfs_dataset_opts
 * and zfs_zvol_opts; NULL none): a filesystem, or with VOL_SIZE a zvol of that
 * many bytes (rounded up to 128 KiB, or to a larger volblocksize in OPTS;
 * volmode=dev), sparse or not. */
int zfs_create(const char *dataset, const char *opts, uint64_t vol_size, bool sparse);
/* The block device of zvol DATASET: /dev/zvol/DATASET, else the /dev/zdN
 * that names it (hosts without udev). -1 without a message. */
int zvol_device(const char *dataset, char *path, size_t n);
/* The zvol of disk NAME of the guest in DIR (its dataset/NAME) into vol; -1
 * without a message when DIR is not a dataset. */
int zvol_of(const char *dir, const char *name, char *vol, size_t n);
/* Disk NAME of the guest in DIR with diskN_dev DEV: a file in DIR, a custom
 * path, or the zvol DATASET_OF_DIR/NAME's device. -1 after one line (path
 * still filled with where it should be). */
int guest_disk_path(const char *dir, const char *name, const char *dev, char *path, size_t n);

/* ---- util.c */
/* One line "vm: ERROR: ..." on stderr; returns 1 so that commands may
 * `return vm_err(...)`. */
int vm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The program to run for bhyve, grub-bhyve, bhyvectl: $VM_BHYVE etc. if set,
 * else next to bin/vm, else from PATH. */
const char *vm_tool(const char *name);

/* Every command: argv[0] is its name; returns the exit status. */
typedef int vm_cmd_fn(struct vmhost *h, int argc, char **argv);
vm_cmd_fn cmd_init, cmd_datastore, cmd_create, cmd_destroy, cmd_rename, cmd_add,
    cmd_configure, cmd_set, cmd_get, cmd_list, cmd_info, cmd_iso, cmd_img,
    cmd_clone, cmd_snapshot, cmd_rollback, cmd_start, cmd_stop, cmd_restart,
    cmd_reset, cmd_poweroff, cmd_startall, cmd_stopall, cmd_install,
    cmd_console, cmd_switch, cmd_supervise;

#endif
