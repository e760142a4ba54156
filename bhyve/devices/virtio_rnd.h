/* virtio-rnd's test hook (virtio_rnd.c). */
#ifndef VIRTIO_RND_H
#define VIRTIO_RND_H

/* Tests only: this many of the next getrandom calls fail with EAGAIN, as before
 * the host's RNG is seeded. */
extern int vtrnd_test_not_ready;

#endif
