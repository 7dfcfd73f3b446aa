# SPDX-License-Identifier: GPL-2.0-only
#
# shmstream top-level build. Each entry point first installs the Debian
# packages it needs (tools/deps.sh).
#   make            module (kmod/shmstream.ko), libshmdev, selftests, examples,
#                   shmstreamctl, the GStreamer plugin
#   make demo       the module in a QEMU guest, 640x480 at 30 fps, two epoll
#                   readers, a PNG of a frame in build/demo/ (VM=0: this kernel)
#   make check      everything, then the whole suite in a QEMU guest
#   make bench      latency, throughput and CPU against other transports
#   make install    libshmdev, headers, .pc, man pages, shmstreamctl and the
#                   Python package for Debian's python3, the GStreamer plugin
#                   (PREFIX=, DESTDIR=, PYTHONDIR=, GSTPLUGINDIR=)
#   make deb        the Debian packages into build/deb/ (deb-check: lintian)
#   make lint       checkpatch --strict, sparse, W=1, clang-format
#   make matrix     the kselftest suite on 5.10, 6.1, 6.12, sid and 6.1-rt
#   make fresh-check  a clone on a fresh Debian 12 root: demo, check, the .debs
#   make check-debug  the suite and a fuzz on a KASAN/lockdep/kmemleak kernel
#   make apps-check   PipeWire, v4l2loopback and ffmpeg read a stream, in a
#                   QEMU guest (a lane of its own: about 150 MB of packages)
#   make fuzz, make killany, make dkms-install, make help
#   make pyshmem-check PYSHMEM_SRC=DIR  pyshmem's own tests against the compat layer
# KVER=<release> picks the target kernel (default: tools/vm/kver).

# Every entry point installs the Debian packages it needs first, before
# anything that depends on them (the kernel release, pkg-config) is
# computed: tools/deps.sh runs apt-get as root, and otherwise prints the
# exact apt-get line and stops. Nested makes and debian/rules skip it.
DEPS_GOALS := $(or $(MAKECMDGOALS),all)
DEPS_NONE := clean distclean module-clean uninstall dkms-remove help ctl-install-build
DEPS_GROUPS = $(sort build \
	$(if $(filter demo bench fuzz killany pyshmem-check,$(DEPS_GOALS)),guest) \
	$(if $(filter check check-debug dkms-check deb-check dkms-install,$(DEPS_GOALS)),check) \
	$(if $(filter bench,$(DEPS_GOALS)),bench) \
	$(if $(filter check-debug,$(DEPS_GOALS)),debug) \
	$(if $(filter matrix,$(DEPS_GOALS)),guest matrix) \
	$(if $(filter fresh-check,$(DEPS_GOALS)),fresh) \
	$(if $(filter apps-check,$(DEPS_GOALS)),apps) \
	$(if $(filter lint,$(DEPS_GOALS)),lint) \
	$(if $(filter deb,$(DEPS_GOALS)),deb))
ifeq ($(SHMSTREAM_DEPS_DONE),)
ifneq ($(filter-out $(DEPS_NONE),$(DEPS_GOALS)),)
ifneq ($(shell tools/deps.sh $(DEPS_GROUPS) >&2 && echo ok),ok)
$(error missing Debian packages (the line above says which))
endif
export SHMSTREAM_DEPS_DONE := 1
endif
endif

KVER ?= $(shell tools/vm/kver)
KDIR ?= /lib/modules/$(KVER)/build
BUILD ?= $(CURDIR)/build
export SHMSTREAM_BUILD := $(BUILD)

VERSION := $(shell cat VERSION)

all: module lib tests lib-tests cuda-tests examples ctl tools-tests bench-build fuzz-build \
	killany-build runner-tests python-build gst

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

tests:
	$(MAKE) -C tests OUTPUT=$(BUILD)/tests

# libshmdev, plain and the ASan+UBSan lane.
# lib-nocuda: built as without cuda.h, for the bridge's stub lane.
lib:
	$(MAKE) -C libshmdev OUT=$(BUILD)/lib
	$(MAKE) -C libshmdev OUT=$(BUILD)/lib-asan SANITIZE=1
	$(MAKE) -C libshmdev OUT=$(BUILD)/lib-nocuda CUDA=0

TEST_CFLAGS = -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -pthread \
	-Iuapi -Ilibshmdev/include -isystem $(shell tools/ksrc.sh)/tools/testing/selftests \
	-DEXPECT_VERSION='"$(VERSION)"'
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

lib-tests: lib
	@mkdir -p $(BUILD)/tests/lib
	$(CC) $(TEST_CFLAGS) tests/lib/lib_test.c -L$(BUILD)/lib -Wl,-rpath,$(BUILD)/lib \
		-lshmdev -o $(BUILD)/tests/lib/lib_test
	$(CC) $(TEST_CFLAGS) $(SAN_FLAGS) tests/lib/lib_test.c -L$(BUILD)/lib-asan \
		-Wl,-rpath,$(BUILD)/lib-asan -lshmdev -o $(BUILD)/tests/lib/lib_test-asan

# The CUDA bridge tests (tests/cuda): the fake driver as libcuda.so.1 and
# the test against each library build; gpu_test for a real GPU. They need
# cuda.h (the header only); without it they are not built and the suite
# says so.
CUDA_HOME ?= /usr/local/cuda
HAVE_CUDA_H := $(wildcard $(CUDA_HOME)/include/cuda.h)
CUDA_OUT := $(BUILD)/tests/cuda
CUDA_TEST = $(CC) $(TEST_CFLAGS) -isystem $(CUDA_HOME)/include $(2) \
	-L$(1) -Wl,-rpath,$(1) -lshmdev -o $(3)
cuda-tests: lib
ifneq ($(HAVE_CUDA_H),)
	@mkdir -p $(CUDA_OUT)/fake
	$(CC) -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Werror -fPIC -shared \
		-fvisibility=hidden -pthread -isystem $(CUDA_HOME)/include \
		-Wl,-soname,libcuda.so.1 tests/cuda/fake_cuda.c -o $(CUDA_OUT)/fake/libcuda.so.1
	$(call CUDA_TEST,$(BUILD)/lib,-DLANE_FAKE tests/cuda/cuda_test.c,$(CUDA_OUT)/cuda_test)
	$(call CUDA_TEST,$(BUILD)/lib-asan,$(SAN_FLAGS) -DLANE_FAKE tests/cuda/cuda_test.c,\
		$(CUDA_OUT)/cuda_test-asan)
	$(call CUDA_TEST,$(BUILD)/lib,-DLANE_NOCUDA tests/cuda/cuda_test.c,$(CUDA_OUT)/cuda_test-nocuda)
	$(call CUDA_TEST,$(BUILD)/lib-nocuda,-DLANE_STUBS tests/cuda/cuda_test.c,\
		$(CUDA_OUT)/cuda_test-stubs)
	$(call CUDA_TEST,$(BUILD)/lib,tests/gpu/gpu_test.c,$(CUDA_OUT)/gpu_test)
else
	@echo "cuda-tests: no $(CUDA_HOME)/include/cuda.h: the CUDA bridge tests are not built"
	@rm -rf $(CUDA_OUT)
endif

examples: lib
	@mkdir -p $(BUILD)/examples
	for e in producer consumer; do \
		$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iuapi -Ilibshmdev/include \
			examples/$$e.c -L$(BUILD)/lib -Wl,-rpath,$(BUILD)/lib -lshmdev \
			-o $(BUILD)/examples/$$e || exit 1; \
	done

# The benchmark (tools/bench): make bench runs it in the guest, or here
# with VM=0 and the module loaded. SHMBENCH= passes options to it.
bench-build: lib
	@mkdir -p $(BUILD)/bench
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iuapi -Ilibshmdev/include \
		tools/bench/shmbench.c -L$(BUILD)/lib -Wl,-rpath,$(BUILD)/lib -lshmdev -lm \
		-o $(BUILD)/bench/shmbench

bench: module bench-build python-build ctl
	tools/deps.sh bench
	tools/bench/run --vm $(VM) -- $(SHMBENCH)

# The fuzzer (tests/fuzz): make fuzz runs it in the guest, then checks the
# module's counters and that it unloads. SEED= replays a run, SYSCALLS=
# sets the budget.
SYSCALLS ?= 1000000
fuzz-build:
	@mkdir -p $(BUILD)/tests/fuzz
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iuapi tests/fuzz/shmfuzz.c \
		-o $(BUILD)/tests/fuzz/shmfuzz

# The kill-anywhere test (tests/crash): make killany runs it in the guest.
# ROUNDS= sets the rounds, SEED= the seed.
ROUNDS ?= 1000
# The GStreamer plugin (gst/): libgstshmstream.so, shmstreamsrc and shmstreamsink.
gst: lib
	$(MAKE) -C gst OUT=$(BUILD)/gst LIBDIR=$(BUILD)/lib

# The Python package (python/) runs as pure Python (ctypes); the build makes
# the program its tests compare the ctypes structures with, and its optional
# C extension shmstream._speedups (the per-frame copies in one call each),
# in place next to the package's modules, for Debian's python3 (python3-dev's
# headers). Without the headers it is left out, and the package uses ctypes.
PY_INCLUDE = $(shell $(PYTHON3) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT = $(shell $(PYTHON3) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
SPEEDUPS = python/shmstream/_speedups$(PY_EXT)
python-build: lib
	@mkdir -p $(BUILD)/python
	$(CC) -std=c11 -Wall -Wextra -Werror -Iuapi -Ilibshmdev/include python/tests/layout.c \
		-o $(BUILD)/python/layout
	@if [ -n "$(PY_EXT)" ] && [ -e "$(PY_INCLUDE)/Python.h" ]; then \
		echo "CC $(SPEEDUPS)"; \
		$(CC) -std=c11 -Wall -Wextra -Werror -O2 -g -fPIC -shared -fvisibility=hidden \
			-I$(PY_INCLUDE) -Iuapi -Ilibshmdev/include python/shmstream/_speedups.c \
			-o $(SPEEDUPS); \
	else \
		rm -f python/shmstream/_speedups.*.so; \
		echo "python-build: no Python.h for $(PYTHON3) (python3-dev): shmstream._speedups not built, the package uses ctypes"; \
	fi

killany-build:
	@mkdir -p $(BUILD)/tests/crash
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -Iuapi tests/crash/killany.c \
		-o $(BUILD)/tests/crash/killany

killany: module killany-build
	tools/vm/run --timeout 900 -- tests/crash/killany.sh $(BUILD) --rounds $(ROUNDS) \
		$(if $(SEED),--seed $(SEED))

fuzz: module fuzz-build
	tools/vm/run --timeout 900 -- tests/fuzz/fuzz.sh $(BUILD) --syscalls $(SYSCALLS) \
		$(if $(SEED),--seed $(SEED))

# pyshmem's own (non-GPU) test suite against shmstream.compat.pyshmem, in the
# guest: make pyshmem-check PYSHMEM_SRC=<a pyshmem checkout>. Without
# PYSHMEM_SRC it skips: pyshmem is not vendored and CI cannot fetch it.
pyshmem-check: $(if $(PYSHMEM_SRC),module python-build)
ifeq ($(PYSHMEM_SRC),)
	@echo "pyshmem-check: SKIP: no PYSHMEM_SRC (a checkout of github.com/jacotay7/pyshmem; not vendored, and CI cannot fetch it)"
else
	tools/vm/run --timeout 900 -- python/tests/pyshmem-check.sh $(BUILD) $(abspath $(PYSHMEM_SRC))
endif

# shmstreamctl (libkmod, libpng, libshmdev): one build that runs from the
# tree (rpath to build/lib), one to install (the system's libshmdev).
CTL_SRCS := $(wildcard tools/shmstreamctl/*.c)
CTL_BUILD = $(CC) -std=gnu11 -O2 -g $(CPPFLAGS) $(CFLAGS) -Wall -Wextra -Werror -D_GNU_SOURCE \
	-Iuapi -Ilibshmdev/include -DSHMSTREAM_VERSION='"$(VERSION)"' $(CTL_SRCS) $(LDFLAGS) \
	-L$(BUILD)/lib $(1) -lshmdev $(shell pkg-config --cflags --libs libkmod libpng) -o $(2)
ctl: lib
	@mkdir -p $(BUILD)/tools
	$(call CTL_BUILD,-Wl$(comma)-rpath$(comma)$(BUILD)/lib,$(BUILD)/tools/shmstreamctl)
	$(call CTL_BUILD,,$(BUILD)/tools/shmstreamctl.install)
comma := ,

# shmstreamctl's tests' helper (tests/tools): copycount.so, an LD_PRELOAD
# interposer counting frame-sized copies (ingest-v4l2 --io dmabuf makes none).
tools-tests:
	@mkdir -p $(BUILD)/tests/tools
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -shared \
		tests/tools/copycount.c -o $(BUILD)/tests/tools/copycount.so

# The installable shmstreamctl alone, against $(BUILD)/lib (debian/rules).
ctl-install-build:
	@mkdir -p $(BUILD)/tools
	$(call CTL_BUILD,,$(BUILD)/tools/shmstreamctl.install)

# make install: libshmdev (libraries, headers, .pc, man pages), shmstreamctl
# and the udev rule. PREFIX and DESTDIR as usual; UDEVDIR for the rule.
PREFIX ?= /usr/local
# Debian's python3 looks in /usr/lib/python3/dist-packages (packages) and
# /usr/local/lib/python3.X/dist-packages (local installs).
PYTHON3 ?= /usr/bin/python3
# GStreamer finds plugins in its own directory (PREFIX=/usr), else in
# GST_PLUGIN_PATH: export GST_PLUGIN_PATH=$(PREFIX)/lib/gstreamer-1.0.
GSTPLUGINDIR ?= $(if $(filter /usr,$(PREFIX)),$(shell pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null || echo /usr/lib/gstreamer-1.0),$(PREFIX)/lib/gstreamer-1.0)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),/usr/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell $(PYTHON3) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages)
UDEVDIR ?= /etc/udev
install: lib ctl
	$(MAKE) -C libshmdev install OUT=$(BUILD)/lib PREFIX=$(PREFIX)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UDEVDIR)/rules.d \
		$(DESTDIR)$(PREFIX)/share/shmstream $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 755 $(BUILD)/tools/shmstreamctl.install $(DESTDIR)$(PREFIX)/bin/shmstreamctl
	install -m 644 tools/shmstreamctl/man/shmstreamctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 tools/udev/60-shmstream.rules $(DESTDIR)$(UDEVDIR)/rules.d/
	install -m 644 tools/modules-load.d/shmstream.conf \
		$(DESTDIR)$(PREFIX)/share/shmstream/modules-load.conf.example
	install -d $(DESTDIR)$(PYTHONDIR)/shmstream/compat
	if [ -e $(BUILD)/gst/libgstshmstream.so ]; then \
		install -d $(DESTDIR)$(GSTPLUGINDIR) && \
		install -m 644 $(BUILD)/gst/libgstshmstream.so $(DESTDIR)$(GSTPLUGINDIR)/; fi
	install -m 644 python/shmstream/*.py $(DESTDIR)$(PYTHONDIR)/shmstream/
	for so in python/shmstream/_speedups.*.so; do \
		[ ! -e "$$so" ] || install -m 644 "$$so" $(DESTDIR)$(PYTHONDIR)/shmstream/; done
	install -m 644 python/shmstream/compat/*.py $(DESTDIR)$(PYTHONDIR)/shmstream/compat/

uninstall:
	$(MAKE) -C libshmdev uninstall PREFIX=$(PREFIX)
	rm -f $(DESTDIR)$(PREFIX)/bin/shmstreamctl $(DESTDIR)$(UDEVDIR)/rules.d/60-shmstream.rules \
		$(DESTDIR)$(PREFIX)/share/man/man8/shmstreamctl.8 \
		$(DESTDIR)$(PREFIX)/share/shmstream/modules-load.conf.example
	-rmdir $(DESTDIR)$(PREFIX)/share/shmstream 2>/dev/null
	rm -rf $(DESTDIR)$(PYTHONDIR)/shmstream
	rm -f $(DESTDIR)$(GSTPLUGINDIR)/libgstshmstream.so

# make sign: sign the built module with the DKMS MOK key pair (the one
# 'dkms' makes and 'mokutil --import' enrolls) for Secure Boot.
MOK_KEY ?= /var/lib/dkms/mok.key
MOK_CERT ?= /var/lib/dkms/mok.pub
SIGN_MODULE ?= kmod/shmstream.ko
sign:
	@test -r $(MOK_KEY) && test -r $(MOK_CERT) || { \
		echo "make sign: no key pair $(MOK_KEY) + $(MOK_CERT) (dkms makes one on its first build)" >&2; \
		exit 1; }
	@test -r $(SIGN_MODULE) || { echo "make sign: no $(SIGN_MODULE): run make first" >&2; exit 1; }
	$(KDIR)/scripts/sign-file sha256 $(MOK_KEY) $(MOK_CERT) $(SIGN_MODULE)
	@echo "signed $(SIGN_MODULE) by: $$(modinfo -F signer $(SIGN_MODULE))"

# Pieces of the guest runner's own tests (tests/runner/run.sh).
runner-tests:
	$(MAKE) -C $(KDIR) M=$(CURDIR)/tests/runner/warn modules
	@mkdir -p $(BUILD)/tests/runner
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
		-isystem $(shell tools/ksrc.sh)/tools/testing/selftests \
		tests/runner/fail_test.c -o $(BUILD)/tests/runner/fail_test

# The demo: in the guest, or on this machine's kernel with VM=0.
VM ?= 1
demo: all
	@mkdir -p $(BUILD)/demo
ifeq ($(VM),0)
	tools/demo.sh $(BUILD) $(BUILD)/demo $(CURDIR)/kmod/shmstream.ko
else
	tools/vm/run --no-module --rw $(BUILD)/demo --timeout 300 -- \
		tools/demo.sh $(BUILD) $(BUILD)/demo $(CURDIR)/kmod/shmstream.ko
endif

# DKMS: the module's sources into /usr/src/shmstream-VERSION, then
# dkms add/build/install for KVER; dkms-remove undoes all of it.
DKMS_SRC := /usr/src/shmstream-$(VERSION)
dkms-install:
	rm -rf $(DKMS_SRC)
	mkdir -p $(DKMS_SRC)
	cp -r Kbuild VERSION dkms.conf kmod uapi $(DKMS_SRC)/
	rm -f $(DKMS_SRC)/kmod/*.o $(DKMS_SRC)/kmod/*.ko $(DKMS_SRC)/kmod/*.mod* \
		$(DKMS_SRC)/kmod/.*.cmd $(DKMS_SRC)/kmod/modules.order
	dkms add -m shmstream -v $(VERSION)
	dkms build -m shmstream -v $(VERSION) -k $(KVER)
	dkms install -m shmstream -v $(VERSION) -k $(KVER)

dkms-remove:
	-dkms remove -m shmstream -v $(VERSION) --all
	rm -rf $(DKMS_SRC)

dkms-check: all
	tests/dkms/check.sh

# Debian packages (shmstream-dkms, libshmdev1, libshmdev-dev,
# shmstream-tools, python3-shmstream, gstreamer1.0-shmstream) from
# debian/, built from an export of the tracked tree into build/deb/;
# deb-check also runs lintian on them.
deb:
	rm -rf $(BUILD)/deb
	mkdir -p $(BUILD)/deb/shmstream-$(VERSION)
	git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C $(BUILD)/deb/shmstream-$(VERSION)
	cd $(BUILD)/deb/shmstream-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(BUILD)/deb/*.deb

deb-check:
	tests/deb/check.sh

# The fresh-machine lane (tools/fresh-check): a clone on a debootstrap'd
# Debian 12 root runs make demo and make check, then installs the .debs.
fresh-check:
	tools/fresh-check

check:
	tools/check

# The apps lane (tests/apps): shmstreamctl pipewire and v4l2-out, read by
# PipeWire's and ffmpeg's clients in the guest, v4l2loopback built by
# DKMS for its kernel. Its packages (tools/deps.sh apps, mostly ffmpeg's
# libraries) are why it is not part of make check.
apps-check: module ctl gst
	tests/apps/check.sh

# The suite and a short fuzz on a KASAN/lockdep/kmemleak kernel built from
# Debian's source (long the first time: see docs/hardening.md). FUZZ_SYSCALLS= sets
# the fuzz's budget.
check-debug:
	tools/check-debug $(FUZZ_SYSCALLS)

# The kernel matrix (tools/matrix/run): KERNELS=sid,6.12 runs only those.
matrix:
	tools/matrix/run $(if $(KERNELS),--only $(KERNELS))

lint:
	tools/lint

# make help: the entry points, from this file's opening comment.
help:
	@sed -n '/^#   make/,/^# KVER/p' Makefile | sed 's/^# \{0,1\}//'

deps:
	tools/deps.sh

# The module's build products. Not kbuild's clean: with M= at the top it
# would delete every *.o and *.ko* under build/ too (the debug kernel, the
# matrix's chroots); distclean removes build/ as a whole.
module-clean:
	rm -f kmod/*.o kmod/.*.cmd kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/modules.order \
		.*.cmd Module.symvers modules.order

clean: module-clean
	if [ -d $(KDIR) ]; then $(MAKE) -C $(KDIR) M=$(CURDIR)/tests/runner/warn clean; fi
	rm -rf $(BUILD)/tests $(BUILD)/ksft $(BUILD)/ksft-tree $(BUILD)/check \
		$(BUILD)/lib $(BUILD)/lib-asan $(BUILD)/lib-nocuda $(BUILD)/examples
	rm -f python/shmstream/_speedups.*.so

distclean: clean
	rm -rf $(BUILD)

.PHONY: gst all tools-tests bench bench-build fuzz fuzz-build pyshmem-check killany killany-build module module-clean lib lib-tests cuda-tests examples ctl ctl-install-build demo sign deb deb-check dkms-install dkms-remove dkms-check install uninstall tests runner-tests check apps-check check-debug matrix help fresh-check \
	lint deps clean distclean
