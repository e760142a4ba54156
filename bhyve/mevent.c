#include "mevent.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util.h"

struct mevent {
	struct mevent *next;	/* every live mevent, so none is ever unreachable */
	int fd;
	int owned_fd;	/* signalfd/timerfd made here */
	mevent_cb_t cb;
	void *arg;
	int sig;
	uint32_t events;	/* EPOLLIN, or what mevent_set_events asked for */
	bool dead;		/* deleted: its callback never runs again */
};

static int epfd = -1;
static struct mevent *all;
/* Deleted, but perhaps still in the batch mevent_poll is running: freed when
 * the batch is done. */
static struct mevent *graveyard;
static pthread_mutex_t all_lock = PTHREAD_MUTEX_INITIALIZER;

int mevent_init(void)
{
	epfd = epoll_create1(EPOLL_CLOEXEC);
	return epfd < 0 ? -1 : 0;
}

static int me_ctl(struct mevent *me, int op)
{
	struct epoll_event ev = { .events = me->events, .data.ptr = me };

	return epoll_ctl(epfd, op, me->fd, &ev);
}

struct mevent *mevent_add(int fd, mevent_cb_t cb, void *arg)
{
	struct mevent *me = xcalloc(1, sizeof(*me));

	me->fd = fd;
	me->owned_fd = -1;
	me->cb = cb;
	me->arg = arg;
	me->events = EPOLLIN;
	if (me_ctl(me, EPOLL_CTL_ADD) < 0) {
		free(me);
		return NULL;
	}
	pthread_mutex_lock(&all_lock);
	me->next = all;
	all = me;
	pthread_mutex_unlock(&all_lock);
	return me;
}

struct mevent *mevent_add_signal(int sig, mevent_cb_t cb, void *arg)
{
	sigset_t set;
	int fd;
	struct mevent *me;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return NULL;
	me = mevent_add(fd, cb, arg);
	if (me == NULL) {
		close(fd);
		return NULL;
	}
	me->owned_fd = fd;
	me->sig = sig;
	return me;
}

struct mevent *mevent_add_timer(int ms, mevent_cb_t cb, void *arg)
{
	struct itimerspec its = {
		.it_interval = { ms / 1000, (ms % 1000) * 1000000L },
		.it_value = { ms / 1000, (ms % 1000) * 1000000L },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	struct mevent *me;

	if (fd < 0 || timerfd_settime(fd, 0, &its, NULL) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	me = mevent_add(fd, cb, arg);
	if (me == NULL) {
		close(fd);
		return NULL;
	}
	me->owned_fd = fd;
	return me;
}

int mevent_enable(struct mevent *me)
{
	int r = me_ctl(me, EPOLL_CTL_ADD);

	return (r < 0 && errno == EEXIST) ? 0 : r;
}

int mevent_disable(struct mevent *me)
{
	int r = epoll_ctl(epfd, EPOLL_CTL_DEL, me->fd, NULL);

	return (r < 0 && errno == ENOENT) ? 0 : r;
}

int mevent_set_events(struct mevent *me, int events)
{
	int r;

	me->events = ((events & MEVENT_READ) ? EPOLLIN : 0) |
	    ((events & MEVENT_WRITE) ? EPOLLOUT : 0) | ((events & MEVENT_HANGUP) ? EPOLLRDHUP : 0);
	if (me->events == 0)
		return mevent_disable(me);
	r = me_ctl(me, EPOLL_CTL_MOD);
	return r < 0 && errno == ENOENT ? me_ctl(me, EPOLL_CTL_ADD) : r;
}

void mevent_delete(struct mevent *me)
{
	mevent_disable(me);
	pthread_mutex_lock(&all_lock);
	for (struct mevent **pp = &all; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == me) {
			*pp = me->next;
			break;
		}
	}
	__atomic_store_n(&me->dead, true, __ATOMIC_RELEASE);
	me->next = graveyard;
	graveyard = me;
	pthread_mutex_unlock(&all_lock);
	if (me->owned_fd >= 0)
		close(me->owned_fd);
}

static void bury_the_dead(void)
{
	struct mevent *dead;

	pthread_mutex_lock(&all_lock);
	dead = graveyard;
	graveyard = NULL;
	pthread_mutex_unlock(&all_lock);
	while (dead != NULL) {
		struct mevent *next = dead->next;

		free(dead);
		dead = next;
	}
}

int mevent_poll(int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(epfd, evs, (int)nitems(evs), timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct mevent *me = evs[i].data.ptr;

		/* An earlier callback of this batch (or another thread) deleted it. */
		if (__atomic_load_n(&me->dead, __ATOMIC_ACQUIRE))
			continue;
		/* Consume signal/timer records so the fd goes quiet. */
		if (me->owned_fd >= 0) {
			uint8_t buf[sizeof(struct signalfd_siginfo)];

			if (read(me->fd, buf, sizeof(buf)) < 0 && errno == EAGAIN)
				continue;
		}
		me->cb(me->fd, me->arg);
	}
	bury_the_dead();
	return n;
}

void mevent_dispatch(void)
{
	for (;;)
		if (mevent_poll(-1) < 0)
			err(EXIT_ERROR, "epoll_wait");
}
