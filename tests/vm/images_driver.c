/* A test driver for vm(8)'s image code (tests/vm/test_images.sh): runs
 * image_to_disk and cloudinit_seed (vm/diskimage.c, vm/cloudinit.c) alone,
 * without a host set-up.
 *   images_driver to-disk SRC DST
 *   images_driver seed ISO NAME PUBKEY|- NET|-
 * Linked with vm/util.c (vm_err, vm_tool).                              */
#include <stdio.h>
#include <string.h>

#include "vm.h"

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "to-disk") == 0)
		return image_to_disk(argv[2], argv[3]) == 0 ? 0 : 1;
	if (argc == 6 && strcmp(argv[1], "seed") == 0)
		return cloudinit_seed(argv[2], argv[3], strcmp(argv[4], "-") ? argv[4] : NULL,
		    strcmp(argv[5], "-") ? argv[5] : NULL) == 0 ? 0 : 1;
	fprintf(stderr, "usage: images_driver to-disk SRC DST | seed ISO NAME PUBKEY|- NET|-\n");
	return 2;
}
