/* The input routing and the start gate (input.h). */
#include <pthread.h>

#include "input.h"

static pthread_mutex_t input_mtx = PTHREAD_MUTEX_INITIALIZER;
static input_key_fn *key_fn;
static void *key_arg;
static input_pointer_fn *ptr_fn;
static void *ptr_arg;
static input_key_take_fn *usb_key_fn;
static void *usb_key_arg;
static input_pointer_take_fn *usb_ptr_fn;
static void *usb_ptr_arg;
static int desk_w = 640, desk_h = 480;

static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_holds;

void input_set_keyboard(input_key_fn *fn, void *arg)
{
	pthread_mutex_lock(&input_mtx);
	key_fn = fn;
	key_arg = arg;
	pthread_mutex_unlock(&input_mtx);
}

void input_set_pointer(input_pointer_fn *fn, void *arg)
{
	pthread_mutex_lock(&input_mtx);
	ptr_fn = fn;
	ptr_arg = arg;
	pthread_mutex_unlock(&input_mtx);
}

void input_set_usb_keyboard(input_key_take_fn *fn, void *arg)
{
	pthread_mutex_lock(&input_mtx);
	usb_key_fn = fn;
	usb_key_arg = arg;
	pthread_mutex_unlock(&input_mtx);
}

void input_set_usb_pointer(input_pointer_take_fn *fn, void *arg)
{
	pthread_mutex_lock(&input_mtx);
	usb_ptr_fn = fn;
	usb_ptr_arg = arg;
	pthread_mutex_unlock(&input_mtx);
}

void input_desktop_size(int w, int h)
{
	pthread_mutex_lock(&input_mtx);
	if (w > 0 && h > 0) {
		desk_w = w;
		desk_h = h;
	}
	pthread_mutex_unlock(&input_mtx);
}

void input_desktop(int *w, int *h)
{
	pthread_mutex_lock(&input_mtx);
	*w = desk_w;
	*h = desk_h;
	pthread_mutex_unlock(&input_mtx);
}

void input_key(bool down, uint32_t keysym)
{
	input_key_fn *fn;
	input_key_take_fn *ufn;
	void *arg, *uarg;

	pthread_mutex_lock(&input_mtx);
	fn = key_fn;
	arg = key_arg;
	ufn = usb_key_fn;
	uarg = usb_key_arg;
	pthread_mutex_unlock(&input_mtx);
	if (ufn != NULL && ufn(uarg, down, keysym))
		return;
	if (fn != NULL)
		fn(arg, down, keysym);
}

void input_pointer(int buttons, int x, int y)
{
	input_pointer_fn *fn;
	input_pointer_take_fn *ufn;
	void *arg, *uarg;

	pthread_mutex_lock(&input_mtx);
	fn = ptr_fn;
	arg = ptr_arg;
	ufn = usb_ptr_fn;
	uarg = usb_ptr_arg;
	pthread_mutex_unlock(&input_mtx);
	if (ufn != NULL && ufn(uarg, buttons, x, y))
		return;
	if (fn != NULL)
		fn(arg, buttons, x, y);
}

void start_gate_hold(void)
{
	pthread_mutex_lock(&input_mtx);
	gate_holds++;
	pthread_mutex_unlock(&input_mtx);
}

void start_gate_release(void)
{
	pthread_mutex_lock(&input_mtx);
	if (gate_holds > 0 && --gate_holds == 0)
		pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&input_mtx);
}

void start_gate_wait(void)
{
	pthread_mutex_lock(&input_mtx);
	while (gate_holds > 0)
		pthread_cond_wait(&gate_cv, &input_mtx);
	pthread_mutex_unlock(&input_mtx);
}
