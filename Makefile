# copilot-bridge: see README.md.  `make check` runs every test, `make demo`
# runs the bridge on its demo configuration.

PY	 ?= /usr/bin/python3
CC	 ?= cc
B	 ?= build

# Installation (`make install`, docs/operator-guide.md).  The programs stay
# together in BINDIR: the supervisor starts the others from its own
# directory, and finds the Copilot runtime in PREFIX/lib/copilot-bridge.
PREFIX	 ?= /usr/local
BINDIR	 := $(PREFIX)/bin
MANDIR	 ?= $(PREFIX)/share/man
DOCDIR	 ?= $(PREFIX)/share/doc/copilot-bridge
SYSCONFDIR ?= /etc
UNITDIR	 ?= $(PREFIX)/lib/systemd/system
# systemd 252 (Debian 12) reads sysusers.d and tmpfiles.d from /usr/lib and
# /etc only: /usr/lib for PREFIX=/usr, /etc for any other prefix.
SYSTEMD_CONFDIR := $(if $(filter /usr,$(PREFIX)),/usr/lib,$(SYSCONFDIR))
SYSUSERSDIR ?= $(SYSTEMD_CONFDIR)/sysusers.d
TMPFILESDIR ?= $(SYSTEMD_CONFDIR)/tmpfiles.d
RTLOCKDIR := $(PREFIX)/share/copilot-bridge/runtime
RUNTIMEDIR := $(PREFIX)/lib/copilot-bridge/runtime
DOCS	 := README.md docs/operator-guide.md docs/configuration.md \
	    docs/architecture.md docs/copilot-runtime.md
MAN5	 := man/copilot-bridge.json.5
MAN8	 := man/copilot-bridge.8 man/copilot-bridge-sessiond.8 \
	    man/copilot-bridge-worker.8 man/copilot-bridge-install-runtime.8

PKGS	 := libevent libevent_pthreads libcurl jansson libwebsockets openssl sqlite3
# Asked of pkg-config on first use, then kept: never when make parses this
# file, which is before `deps` may have installed the packages.
pkg = $(eval $1 := $$(shell pkg-config $2 2>/dev/null))$($1)
PKG_CFLAGS = $(call pkg,PKG_CFLAGS,--cflags $(PKGS))
PKG_LIBS = $(call pkg,PKG_LIBS,--libs $(PKGS))
CMOCKA_LIBS = $(call pkg,CMOCKA_LIBS,--libs cmocka)

WARN	 := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	    -Wno-unused-parameter
CFLAGS	 ?= -O2 -g
CPPFLAGS += -D_GNU_SOURCE -I. $(PKG_CFLAGS)
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) $(SAN)
LDFLAGS	 += $(SAN)
LIBS	 = $(PKG_LIBS) -lpthread

# Objects of each program; main.c stays out of the archives so unit tests can
# link any module.
COMMON_SRC := $(wildcard common/*.c) $(wildcard ipc/*.c)
SUP_SRC	 := $(filter-out supervisor/main.c,$(wildcard supervisor/*.c))
SESS_SRC := $(filter-out sessiond/main.c,$(wildcard sessiond/*.c))
WORK_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c worker/adapters/*.c))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBCOMMON := $(B)/libcommon.a
LIBSUP	 := $(B)/libsupervisor.a
LIBSESS	 := $(B)/libsessiond.a
LIBWORK	 := $(B)/libworker.a

BINS	 := $(B)/bin/copilot-bridge $(B)/bin/copilot-bridge-sessiond \
	    $(B)/bin/copilot-bridge-worker

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_RUNNERS := $(patsubst tests/fuzz/%.c,$(B)/fuzz-run/%,$(FUZZ_SRC))

# FORCE: see revision.h
.PHONY: FORCE all deps check check-asan test-unit test-integration test-fuzz-corpus \
	test-conformance test-layering fuzz bench soak demo demo-run install runtime \
	deb clean

all: $(BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

# --version: the VERSION file and the build's git revision
# (packaging/revision.sh; REVISION=... overrides it).  The header is
# rewritten only when they change, so a commit rebuilds version.o and
# nothing else.
$(B)/gen/revision.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define VERSION_NUMBER "%s"\n#define VERSION_REVISION "%s"\n' \
	    "$$(cat VERSION)" "$$(REVISION='$(REVISION)' sh packaging/revision.sh)" >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi
$(B)/obj/common/version.o: $(B)/gen/revision.h
$(B)/obj/common/version.o: CPPFLAGS += -I$(B)/gen
FORCE:

$(LIBCOMMON): $(call obj,$(COMMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBSUP): $(call obj,$(SUP_SRC)) $(B)/obj/empty.o
	rm -f $@ && ar rcs $@ $^
$(LIBSESS): $(call obj,$(SESS_SRC)) $(B)/obj/empty.o
	rm -f $@ && ar rcs $@ $^
$(LIBWORK): $(call obj,$(WORK_SRC)) $(B)/obj/empty.o
	rm -f $@ && ar rcs $@ $^
$(B)/obj/empty.o:
	@mkdir -p $(dir $@)
	echo 'int copilot_bridge_empty_archive;' | $(CC) -x c -c -o $@ -

ALL_LIBS = $(LIBSUP) $(LIBSESS) $(LIBWORK) $(LIBCOMMON)

$(B)/bin/copilot-bridge: $(B)/obj/supervisor/main.o $(LIBSUP) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(B)/bin/copilot-bridge-sessiond: $(B)/obj/sessiond/main.o $(LIBSESS) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)
$(B)/bin/copilot-bridge-worker: $(B)/obj/worker/main.o $(LIBWORK) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(ALL_LIBS) $(CMOCKA_LIBS) $(LIBS)

# Fuzz targets: `make fuzz` builds them with libFuzzer (clang); `make check`
# links each with a plain driver and runs it over its seed corpus.
$(B)/fuzz-run/%: $(B)/obj/tests/fuzz/%.o $(B)/obj/tests/fuzz/driver.o $(ALL_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(B)/obj/tests/fuzz/driver.o $(ALL_LIBS) $(LIBS)

FUZZ_CC	 ?= clang
FUZZ_TIME ?= 30
# The first finding stops the run: UBSan does not recover, so a report is
# never a clean run.  A target's output (its own log lines too) goes to
# build/fuzz/NAME.log, shown when it fails.
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz:
	@command -v $(FUZZ_CC) >/dev/null || { echo "fuzz: $(FUZZ_CC) not found"; exit 1; }
	$(MAKE) B=build/fuzz CC=$(FUZZ_CC) SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
	    $(patsubst tests/fuzz/%.c,build/fuzz/obj/tests/fuzz/%.o,$(FUZZ_SRC)) \
	    build/fuzz/libsupervisor.a build/fuzz/libsessiond.a build/fuzz/libworker.a \
	    build/fuzz/libcommon.a
	@set -e; for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  $(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o build/fuzz/$$n \
	    build/fuzz/obj/tests/fuzz/$$n.o build/fuzz/libsupervisor.a build/fuzz/libsessiond.a \
	    build/fuzz/libworker.a build/fuzz/libcommon.a $(LIBS); \
	  mkdir -p build/fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_TIME) s"; \
	  if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	      build/fuzz/$$n -max_total_time=$(FUZZ_TIME) \
	      build/fuzz/corpus-$$n tests/fuzz/corpus/$$n >build/fuzz/$$n.log 2>&1; then \
	    tail -n 60 build/fuzz/$$n.log; echo "fuzz: $$n failed (build/fuzz/$$n.log)"; exit 1; \
	  fi; grep '^Done' build/fuzz/$$n.log; \
	done

deps:
	@sh tests/deps.sh

check: deps
	@sh tests/run-all.sh $(B) ""

check-asan: deps
	@sh tests/run-all.sh build/asan "-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"

test-unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

test-fuzz-corpus: $(FUZZ_RUNNERS)
	@sh tests/run-fuzz-corpus.sh $(FUZZ_RUNNERS)

test-integration: $(BINS)
	BRIDGE_BIN=$(abspath $(B)/bin) $(PY) -m pytest -q -p no:cacheprovider tests/integration

# Calls go one way in each program (tests/layers.conf); part of make check.
test-layering: $(BINS)
	@$(PY) tests/layering.py $(B)

test-conformance:
	@if [ -d tests/conformance ] && ls tests/conformance/*.test.mjs >/dev/null 2>&1; then \
	  cd tests && node --test conformance/; else echo "conformance: none yet"; fi

# deps first, then the build, in that order even under -j.
demo: deps
	@$(MAKE) --no-print-directory demo-run
demo-run: $(BINS)
	BRIDGE_BIN=$(abspath $(B)/bin) $(PY) demo/run.py

bench: $(BINS)
	BRIDGE_BIN=$(abspath $(B)/bin) $(PY) bench/run.py

# Not in check or CI: SOAK_MINUTES of load and disturbance (bench/soak.py).
SOAK_MINUTES ?= 30
soak: $(BINS)
	BRIDGE_BIN=$(abspath $(B)/bin) SOAK_MINUTES=$(SOAK_MINUTES) $(PY) bench/soak.py

# The Copilot runtime's package.json and lock, cut from tests/package-lock.json
# so the version operators install is the one the tests pin.
$(B)/gen/runtime/package-lock.json: tests/package-lock.json packaging/runtime/lock.py
	$(PY) packaging/runtime/lock.py tests/package-lock.json $(dir $@)

# The installed config.json is the sample with stateDir where the service
# keeps its state (the unit's ExecReload names the socket there).
$(B)/gen/config.json: etc/config.sample.json
	@mkdir -p $(dir $@)
	sed 's|^\(  "stateDir": \)"~/.copilot-bridge",$$|\1"/var/lib/copilot-bridge",|' $< >$@.tmp
	grep -q '^  "stateDir": "/var/lib/copilot-bridge",$$' $@.tmp
	mv $@.tmp $@

# Files under SYSCONFDIR belong to the operator once there: installed only
# when absent, never overwritten.
install: $(BINS) $(B)/gen/runtime/package-lock.json $(B)/gen/config.json
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(RTLOCKDIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
	    $(DESTDIR)$(SYSCONFDIR)/logrotate.d $(DESTDIR)$(SYSCONFDIR)/copilot-bridge
	install -m 0755 $(BINS) packaging/runtime/copilot-bridge-install-runtime \
	    $(DESTDIR)$(BINDIR)/
	install -m 0644 $(B)/gen/runtime/package.json \
	    $(B)/gen/runtime/package-lock.json $(DESTDIR)$(RTLOCKDIR)/
	install -m 0644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 etc/config.sample.json $(DESTDIR)$(DOCDIR)/examples/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	    packaging/systemd/copilot-bridge.service.in >$(B)/gen/copilot-bridge.service
	install -m 0644 $(B)/gen/copilot-bridge.service $(DESTDIR)$(UNITDIR)/
	install -m 0644 packaging/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/copilot-bridge.conf
	install -m 0644 packaging/tmpfiles.conf $(DESTDIR)$(TMPFILESDIR)/copilot-bridge.conf
	@set -e; for f in "0640 $(B)/gen/config.json copilot-bridge/config.json" \
	    "0644 packaging/logrotate.conf logrotate.d/copilot-bridge"; do \
	  set -- $$f; \
	  if [ -e "$(DESTDIR)$(SYSCONFDIR)/$$3" ]; then \
	    echo "install: $(DESTDIR)$(SYSCONFDIR)/$$3 exists, left as it is"; \
	  else \
	    echo "install -m $$1 $$2 $(DESTDIR)$(SYSCONFDIR)/$$3"; \
	    install -m "$$1" "$$2" "$(DESTDIR)$(SYSCONFDIR)/$$3"; \
	  fi; \
	done

# The pinned Copilot runtime, with npm, into PREFIX/lib/copilot-bridge/runtime
# (what copilot-bridge-install-runtime does once installed).
runtime: $(B)/gen/runtime/package-lock.json
	sh packaging/runtime/copilot-bridge-install-runtime -l $(B)/gen/runtime \
	    $(DESTDIR)$(RUNTIMEDIR)

# The Debian package (debian/), built with dpkg-buildpackage from a copy of
# the tree: the .deb and lintian's report land in $(B)/deb.
deb:
	@sh packaging/deb.sh $(B)/deb

clean:
	rm -rf build

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
