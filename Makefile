# walship: build, test and demo.  `make` builds build/walship;
# `make test` installs what the tests need and runs them all;
# `make check` runs the same suite under ASan+UBSan (the core end-to-end
# tests on directory replicas only; the S3 tests still run); `make demo`
# shows the main job end to end on a local directory replica; `make fuzz`
# runs the libFuzzer targets of tests/fuzz for a minute each; `make
# tsan` runs the tests that drive threads under ThreadSanitizer;
# `make install PREFIX=...` installs walship (see install below).

BUILD   ?= build
CC      ?= cc
# libcurl is not linked: http.c loads it with dlopen when an S3 replica
# needs it (include/ws/curl_dl.h); only its headers are used here.
PKGS     = libuv liblz4 yaml-0.1 libcrypto expat
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wformat=2 -Wvla -Wundef \
           -Wimplicit-fallthrough
CFLAGS  ?= -O2 -g
CPPFLAGS = -std=c11 -D_GNU_SOURCE -Iinclude -I$(SQLITE_DIR) -MMD -MP
SQLITE_DIR  = build/sqlite
SQLITE_OPTS = -DSQLITE_THREADSAFE=1 -DSQLITE_OMIT_LOAD_EXTENSION \
              -DSQLITE_DEFAULT_FOREIGN_KEYS=0 -DSQLITE_ENABLE_DBPAGE_VTAB
LIBS     = $(shell pkg-config --libs $(PKGS)) -ldl -lpthread -lm
ALLFLAGS = $(CPPFLAGS) $(CFLAGS) $(WARN) $(SAN) \
           $(shell pkg-config --cflags $(PKGS) libcurl)

SRCS   = $(filter-out src/main.c,$(wildcard src/*.c))
OBJS   = $(SRCS:src/%.c=$(BUILD)/obj/%.o)
UNITS  = $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
TOOLS  = $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
SQLITE_OBJ = $(SQLITE_DIR)/sqlite3.o

ifeq ($(V),1)
Q =
else
Q = @
endif

.PHONY: all deps test check unit e2e demo clean tools
all: $(BUILD)/walship $(UNITS) $(TOOLS)

deps:
	$(Q)sh scripts/deps.sh

$(SQLITE_DIR)/mode:
	$(Q)sh scripts/sqlite.sh $(SQLITE_DIR)

$(SQLITE_OBJ): $(SQLITE_DIR)/mode
	@echo "  CC      sqlite3.c ($$(cat $(SQLITE_DIR)/mode))"
	$(Q)if [ "$$(cat $(SQLITE_DIR)/mode)" = amalgamation ]; then \
	  $(CC) -O2 -g $(SQLITE_OPTS) -c $(SQLITE_DIR)/sqlite3.c -o $@; \
	else echo 'int ws_sqlite_system;' | $(CC) -x c -c - -o $@; fi

SQLITE_LIB = $(shell [ "$$(cat $(SQLITE_DIR)/mode 2>/dev/null)" = system ] && echo -lsqlite3)

$(BUILD)/obj/%.o: src/%.c $(SQLITE_DIR)/mode
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALLFLAGS) -c $< -o $@

$(BUILD)/libws.a: $(OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/walship: $(BUILD)/obj/main.o $(BUILD)/libws.a $(SQLITE_OBJ)
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(SQLITE_LIB) $(LIBS)

$(BUILD)/test_%: tests/unit/test_%.c $(BUILD)/libws.a $(SQLITE_OBJ)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALLFLAGS) -Itests -o $@ $^ $(SQLITE_LIB) $(LIBS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libws.a $(SQLITE_OBJ)
	@mkdir -p $(@D)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALLFLAGS) -o $@ $^ $(SQLITE_LIB) $(LIBS)

# The whole suite: unit tests, then the end-to-end tests (which drive the
# real binary, a separate writer process and Litestream v0.3.13).
# Its results and counters go to $(BUILD)/reliability/suite.rel (read by
# `make reliability`).
test: deps
	$(Q)$(MAKE) --no-print-directory all
	@mkdir -p $(BUILD)/reliability
	$(Q)WS_REL_OUT=$(BUILD)/reliability/suite.rel sh tests/run $(BUILD)

unit: all
	$(Q)for t in $(UNITS); do $$t || exit 1; done

check: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all" \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer" all
	@mkdir -p build-asan/reliability
	$(Q)ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 BACKENDS=file \
	  WS_REL_OUT=build-asan/reliability/suite.rel sh tests/run build-asan

# The reliability battery (tests/reliability/run): TIER=pr runs in CI
# after `make test` (whose counters it reuses), TIER=nightly for hours;
# each writes $(BUILD)/reliability/REPORT-TIER.md.
.PHONY: reliability
TIER ?= pr
reliability: deps
	$(Q)BUILD=$(BUILD) sh tests/reliability/run $(TIER)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/demo.sh $(BUILD)

# Side-by-side benchmarks with Litestream v0.3.13 (bench/README.md),
# writing bench/RESULTS.md: `make bench` (~40 min on 2 cores) or
# `make bench-quick` (~5 min).  Not part of `make test`.
.PHONY: bench bench-quick
bench bench-quick: deps
	$(Q)$(MAKE) --no-print-directory all
	@mkdir -p $(BUILD)/bench
	@echo "  CC      bench/tools/benchw.c"
	$(Q)$(CC) $(ALLFLAGS) -o $(BUILD)/bench/benchw bench/tools/benchw.c \
	  $(SQLITE_OBJ) $(SQLITE_LIB) $(LIBS)
	$(Q)QUICK=$(if $(filter bench-quick,$@),1,0) sh bench/run $(BUILD)

# libFuzzer targets (tests/fuzz/fuzz_*.c): built with clang-14 under
# ASan+UBSan into $(BUILD)/fuzz, then each run for FUZZ_SECONDS, two at a
# time, by tests/fuzz/run (crash inputs are saved in $(BUILD)/fuzz/).
# Not part of `make test`; `make all` replays their committed inputs
# through the normal build (tests/unit/test_fuzz.c).
.PHONY: fuzz
FUZZ_CC      = clang-14
FUZZ_SECONDS ?= 60
FUZZ_DIR     = $(BUILD)/fuzz
FUZZ_FLAGS   = $(CPPFLAGS) -O1 -g -fno-omit-frame-pointer $(WARN) \
               -fsanitize=address,undefined -fno-sanitize-recover=all \
               $(shell pkg-config --cflags $(PKGS) libcurl)
FUZZ_OBJS    = $(SRCS:src/%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_BINS    = $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,\
                 $(wildcard tests/fuzz/fuzz_*.c))

$(FUZZ_DIR)/obj/%.o: src/%.c $(SQLITE_DIR)/mode
	@mkdir -p $(@D)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/libws.a: $(FUZZ_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/libws.a $(SQLITE_OBJ)
	@echo "  FUZZCC  $<"
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $(filter-out %.h,$^) \
	  $(SQLITE_LIB) $(LIBS)

# The unit test that replays the targets' committed inputs includes their
# sources, so it is rebuilt when they change.
$(BUILD)/test_fuzz: tests/unit/test_fuzz.c $(wildcard tests/fuzz/*.[ch]) \
                    $(BUILD)/libws.a $(SQLITE_OBJ)
	@echo "  CC      $<"
	$(Q)$(CC) $(ALLFLAGS) -Itests -o $@ $(filter-out tests/fuzz/%,$^) \
	  $(SQLITE_LIB) $(LIBS)

fuzz:
	$(Q)sh scripts/deps.sh fuzz
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BINS)
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run $(FUZZ_DIR)

# `make install PREFIX=/usr DESTDIR=/tmp/pkg`: the binary, the man page,
# the example config, the systemd unit (its ExecStart pointing at the
# installed binary) and the container entry point.  `make uninstall` (same
# PREFIX and DESTDIR) removes exactly those files.
PREFIX  ?= /usr/local
BINDIR   = $(PREFIX)/bin
MANDIR   = $(PREFIX)/share/man
DOCDIR   = $(PREFIX)/share/doc/walship
DATADIR  = $(PREFIX)/share/walship
INSTALLED = $(BINDIR)/walship $(MANDIR)/man1/walship.1 \
            $(DOCDIR)/walship.yml $(DOCDIR)/README.md \
            $(DATADIR)/walship.service $(DATADIR)/entrypoint.sh

.PHONY: install uninstall
install: $(BUILD)/walship
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
	  $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)
	install -m 755 $(BUILD)/walship $(DESTDIR)$(BINDIR)/walship
	install -m 644 doc/walship.1 $(DESTDIR)$(MANDIR)/man1/walship.1
	install -m 644 etc/walship.yml README.md $(DESTDIR)$(DOCDIR)/
	sed 's|/usr/local/bin/walship|$(BINDIR)/walship|' etc/walship.service \
	  >$(DESTDIR)$(DATADIR)/walship.service.tmp
	chmod 644 $(DESTDIR)$(DATADIR)/walship.service.tmp
	mv $(DESTDIR)$(DATADIR)/walship.service.tmp \
	  $(DESTDIR)$(DATADIR)/walship.service
	install -m 755 etc/entrypoint.sh $(DESTDIR)$(DATADIR)/entrypoint.sh

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR) 2>/dev/null

clean:
	rm -rf build build-asan build-tsan

-include $(OBJS:.o=.d) $(BUILD)/obj/main.d $(FUZZ_OBJS:.o=.d) \
  $(FUZZ_BINS:=.d)

# Crash points (include/ws/crashpt.h): `make crash` builds
# build-crash/walship with -DWS_CRASHPOINTS, where WALSHIP_CRASHPOINT=
# NAME:N ends it at the N-th crossing of point NAME; tests 24 to 26 use
# it (WALSHIP_CRASH names another).  A test build only: never installed.
.PHONY: crash clean-crash
CRASH_BUILD = build-crash
ifeq ($(CRASHPOINTS),1)
ifeq ($(BUILD),build)
$(error CRASHPOINTS=1 needs a build directory of its own: make crash)
endif
ALLFLAGS += -DWS_CRASHPOINTS
endif
crash:
	$(Q)$(MAKE) --no-print-directory BUILD=$(CRASH_BUILD) CRASHPOINTS=1 \
	  $(CRASH_BUILD)/walship
test check: crash
clean: clean-crash
clean-crash:
	rm -rf $(CRASH_BUILD)

# ThreadSanitizer (`make tsan`): walship, the test tools, the unit tests
# that start threads (TSAN_UNITS) and SQLite itself (walship's
# connections are opened without SQLite's mutexes, so a connection used
# from two threads at once is a race only inside SQLite's code) built with
# gcc's -fsanitize=thread into build-tsan, then tests/tsan/run runs those
# unit tests and the end-to-end tests that drive the thread pool, on
# both backends (TSAN_TESTS picks others).  Any report fails it; what it
# cannot see and why is in tests/tsan/run.
.PHONY: tsan
TSAN_DIR   = build-tsan
TSAN_UNITS = test_control test_db test_lz4f
TSAN_TOOLS = $(patsubst tests/tools/%.c,$(TSAN_DIR)/tools/%,\
               $(wildcard tests/tools/*.c))
tsan: deps
	$(Q)mkdir -p $(TSAN_DIR)
	$(Q)$(MAKE) --no-print-directory BUILD=$(TSAN_DIR) \
	  SAN="-fsanitize=thread" CFLAGS="-O1 -g -fno-omit-frame-pointer" \
	  SQLITE_OBJ=$(TSAN_DIR)/sqlite3.o \
	  SQLITE_OPTS="$(SQLITE_OPTS) -fsanitize=thread" \
	  $(TSAN_DIR)/walship $(TSAN_TOOLS) $(TSAN_UNITS:%=$(TSAN_DIR)/%)
	$(Q)sh tests/tsan/run $(TSAN_DIR)

# The S3 soak alone (tests/reliability/soak; `make reliability
# TIER=nightly` runs it too): SOAK_MINUTES (120) scales it, KEEP=1 keeps
# its directory (under TMPDIR).
.PHONY: soak
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)WALSHIP=$(BUILD)/walship TOOLS=$(BUILD)/tools sh tests/reliability/soak
