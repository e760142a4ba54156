/* The event loop (bhyve/mevent.c): a callback may delete a registration that
 * is ready in the same batch; it must not run afterwards, nor be used after
 * being freed (ASan watches). */
#include <sys/eventfd.h>
#include <unistd.h>

#include "mevent.h"
#include "test.h"

static struct mevent *victim;
static int victim_calls, killer_calls;

static void victim_cb(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	(void)!read(fd, &n, sizeof(n));
	victim_calls++;
}

static void killer_cb(int fd, void *arg)
{
	uint64_t n;

	(void)arg;
	(void)!read(fd, &n, sizeof(n));
	killer_calls++;
	if (victim != NULL) {
		mevent_delete(victim);
		victim = NULL;
	}
}

static void mevent_delete_from_a_callback_in_the_same_batch(void)
{
	int a = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK), b = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	struct mevent *ka, *kb;

	REQUIRE(a >= 0 && b >= 0);
	killer_calls = victim_calls = 0;
	/* Both ready at once; epoll reports them in the order they became ready,
	 * so the killer's callback runs first and deletes the victim, which is
	 * still in the batch. */
	ka = mevent_add(a, killer_cb, NULL);
	victim = mevent_add(b, victim_cb, NULL);
	REQUIRE(victim != NULL && ka != NULL);
	kb = victim;
	mevent_poll(100);
	CHECK_EQ(killer_calls, 1);
	CHECK_EQ(victim_calls, 0);		/* never after its deletion */
	CHECK(victim == NULL && kb != NULL);
	(void)!write(b, &(uint64_t){ 1 }, sizeof(uint64_t));
	mevent_poll(20);
	CHECK_EQ(victim_calls, 0);		/* deleted: b's readiness reaches no one */
	mevent_delete(ka);
	close(a);
	close(b);
}

void suite_mevent(void)
{
	RUN_DEV(mevent_delete_from_a_callback_in_the_same_batch);
}
