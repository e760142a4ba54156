/* grub-bhyve's interactive side on a terminal: the menu (arrows, digits, j/k,
 * Enter, Escape, a countdown a key stops), the entry editor ('e') and the
 * grub> prompt ('c'), whose lines go through the grub.cfg interpreter with a
 * few commands of its own (ls, cat, boot, normal, exit, help, echo). The
 * terminal is in raw mode only while it waits for keys, and is put back on
 * every way out, SIGINT, SIGTERM and SIGHUP included. */
#ifndef GB_MENU_H
#define GB_MENU_H

#include <stdbool.h>
#include <stdio.h>

#include "cfg.h"
#include "loader.h"

/* Lets the user choose or type what to boot, reading keys from fd in and
 * writing to out. 0 with b filled (console: as gb_cfg_boot's); 1 when the user
 * quit (Escape at the top menu asks nothing: it is ignored; "exit" at a prompt
 * with no menu quits); -1 with a message in err. */
int gb_menu_run(struct gb_cfg *c, struct gb_loader *l, int in, FILE *out, bool console,
    struct gb_boot *b, char *err, size_t errlen);

#endif
