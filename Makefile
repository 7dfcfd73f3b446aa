# SPDX-License-Identifier: GPL-2.0-only
#
# shmstream top-level build.
#   make            module (kmod/shmstream.ko), selftests
#   make check      everything, then the whole suite in a QEMU guest
#   make lint       checkpatch --strict, sparse, W=1, clang-format
# KVER=<release> picks the target kernel (default: tools/vm/kver).

KVER ?= $(shell tools/vm/kver)
KDIR ?= /lib/modules/$(KVER)/build
BUILD ?= $(CURDIR)/build
export SHMSTREAM_BUILD := $(BUILD)

VERSION := $(shell cat VERSION)

all: module tests runner-tests

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

tests:
	$(MAKE) -C tests OUTPUT=$(BUILD)/tests

# Pieces of the guest runner's own tests (tests/runner/run.sh).
runner-tests:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/tests/runner/warn modules
	@mkdir -p $(BUILD)/tests/runner
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
		-isystem $(shell tools/ksrc.sh)/tools/testing/selftests \
		tests/runner/fail_test.c -o $(BUILD)/tests/runner/fail_test

check:
	tools/check

lint:
	tools/lint

deps:
	tools/deps.sh

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C $(KDIR) M=$(CURDIR)/tests/runner/warn clean
	rm -rf $(BUILD)/tests $(BUILD)/ksft $(BUILD)/ksft-tree $(BUILD)/check

distclean: clean
	rm -rf $(BUILD)

.PHONY: all module tests runner-tests check lint deps clean distclean
