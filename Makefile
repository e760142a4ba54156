# bhyve for Linux/KVM. `make` builds bin/bhyve; `make check` runs every test;
# `make bench` compares start-up and memory with QEMU.
CC      ?= cc
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Ibhyve -Ilib/vmmapi
LDLIBS  += -lpthread

VMMAPI_SRCS := lib/vmmapi/vmmapi.c
CORE_SRCS   := bhyve/config.c bhyve/util.c bhyve/iodispatch.c bhyve/mevent.c \
               bhyve/pci_emul.c bhyve/pci_irq.c bhyve/options.c bhyve/backends/console.c
DEVICE_SRCS := $(wildcard bhyve/devices/*.c)
BHYVE_SRCS  := bhyve/bhyverun.c $(CORE_SRCS) $(DEVICE_SRCS) $(VMMAPI_SRCS)
BHYVE_OBJS  := $(BHYVE_SRCS:%.c=build/%.o)

all: bin/bhyve guest

bin/bhyve: $(BHYVE_OBJS)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

build/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

guest:
	$(MAKE) -C tests/guest

check: all
	tests/run

bench: all
	tests/bench/startup.sh

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
	    --std=c11 -D_GNU_SOURCE -Ibhyve -Ilib/vmmapi --suppress=missingIncludeSystem \
	    bhyve lib tests/unit

clean:
	rm -rf build bin
	$(MAKE) -C tests/guest clean

.PHONY: all guest check bench cppcheck clean
-include $(BHYVE_OBJS:.o=.d)
