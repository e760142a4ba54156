/* The xHCI controller's limits (xhci.c), which its tests use too. */
#ifndef XHCI_H
#define XHCI_H

#define XHCI_MAXPORTS		4	/* USB 2.0 root ports, one device each */
#define XHCI_MAXSLOTS		8	/* device slots */
#define XHCI_ERST_MAX		8	/* event ring segments (ERST Max 3) */
#define XHCI_TRB_BUDGET		256	/* TRBs one doorbell (or input event) walks */
#define XHCI_TD_MAX		32	/* TRBs in one TD */
#define XHCI_CTRL_MAX		4096	/* bytes of a control transfer's data stage */

#endif
