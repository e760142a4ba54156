#ifndef ATKBDC_H
#define ATKBDC_H

struct vmctx;

/* The 8042 at 0x60/0x64 and its keyboard (IRQ1). */
int atkbdc_init(struct vmctx *ctx);

#endif
