/* The main thread's event loop (bhyve's mevent, over epoll): consoles, signals
 * and timers call back here, never on a vCPU thread. */
#ifndef MEVENT_H
#define MEVENT_H

struct mevent;
typedef void (*mevent_cb_t)(int fd, void *arg);

int mevent_init(void);
struct mevent *mevent_add(int fd, mevent_cb_t cb, void *arg);
/* A signal delivered through the loop (blocked for every thread). */
struct mevent *mevent_add_signal(int sig, mevent_cb_t cb, void *arg);
/* A periodic timer, every ms milliseconds. */
struct mevent *mevent_add_timer(int ms, mevent_cb_t cb, void *arg);
int mevent_enable(struct mevent *me);
int mevent_disable(struct mevent *me);
/* What an fd's callback waits for, MEVENT_* or'ed (0: as mevent_disable); the
 * default is MEVENT_READ. The callback is not told which one happened. */
#define MEVENT_READ	1
#define MEVENT_WRITE	2
#define MEVENT_HANGUP	4	/* the peer shut its side down (a stream socket) */
int mevent_set_events(struct mevent *me, int events);
/* Closes nothing but its own signalfd/timerfd; the owner closes its fd. Safe from
 * a callback, even for a registration in the batch being run: it never runs
 * again, and is freed once the batch is done. */
void mevent_delete(struct mevent *me);
/* Runs the callbacks of what is ready within timeout_ms (-1: wait); returns how
 * many ran, or -1. */
int mevent_poll(int timeout_ms);
void mevent_dispatch(void) __attribute__((noreturn));

#endif
