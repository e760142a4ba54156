#ifndef RTC_H
#define RTC_H

struct vmctx;

/* Registers the RTC/CMOS and fills in the memory-size bytes from ctx's RAM. */
int rtc_init(struct vmctx *ctx, int ncpus);

#endif
