/* bhyveload(8): FreeBSD's loader for FreeBSD guests, which reads the kernel
 * from a UFS or ZFS disk image with FreeBSD's own boot code. That is not
 * implemented here: this program takes bhyveload's command line as FreeBSD
 * does (usage errors exit 1 with the usage) and then refuses in one line,
 * naming what boots a FreeBSD guest instead. No VM is made. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void usage(void)
{
	fprintf(stderr,
	    "usage: bhyveload [-C][-S][-c <console-device>] [-d <disk-path>] [-e <name=value>]\n"
	    "\t\t [-h <host-path>] [-l <os-loader>] [-m <mem-size>] [-o <name=value>]\n"
	    "\t\t <vmname>\n");
	exit(1);
}

int main(int argc, char **argv)
{
	int c;

	while ((c = getopt(argc, argv, "CSc:d:e:h:l:m:o:")) != -1) {
		switch (c) {
		case 'C': case 'S': case 'c': case 'd': case 'e': case 'h': case 'l':
		case 'm': case 'o':
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1)
		usage();
	fprintf(stderr, "bhyveload: loading a FreeBSD kernel from a UFS or ZFS disk is not "
	    "implemented; boot the guest %s with UEFI firmware instead "
	    "(bhyve -l bootrom,/usr/share/OVMF/OVMF_CODE.fd ...), or load a Linux guest "
	    "with grub-bhyve\n", argv[optind]);
	return 1;
}
