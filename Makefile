# The ClassLink roster pipeline: cl-fetch | cl-filter | cl-match | cl-load.
#
#   make                 build the four programs and cl-apply into build/bin
#   make check           build and run every test; ends with "N passed, N failed"
#   make check SANITIZE=1   the same suite built with ASan+UBSan (in build/sanitize)
#   make check VALGRIND=1   the same suite under valgrind, leaks fail it
#   make demo            a first and a second sync against the test server
#   make lint            clang-format, mandoc -Tlint, gcc -fanalyzer
#   make fuzz            every libFuzzer harness, FUZZ_SECONDS each (60)
#   make bench           the benchmarks (large; minutes)
#   make bench SCALE=1000000   bench/bench-scale alone: 100,000 and a million students (an hour)
#   make docs            regenerate docs/errors.md from lib/errors/*.def
#   make install PREFIX=/usr/local

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
CC ?= cc
FUZZ_SECONDS ?= 60

ifeq ($(SANITIZE),1)
B := build/sanitize
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT := -O1
else
B := build
SANFLAGS :=
OPT := -O2
endif

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wold-style-definition -Wformat=2 -Wundef -Wcast-qual -Wwrite-strings -Wvla \
	-Wimplicit-fallthrough -fno-common -Werror
CPPFLAGS := -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 -Ilib
CFLAGS ?= $(OPT) -g
ALL_CFLAGS := -std=c11 -pthread $(WARN) $(CFLAGS) $(SANFLAGS) -MMD -MP
LDLIBS := -Wl,--as-needed -lcurl -lcrypto -lcsv -lsqlite3 -ljq -lm -pthread

PROGS := fetch filter match load
# Siblings of a stage in a subfolder of it, one program each (DESIGN.md,
# Layout): load/apply/ is cl-apply, the reference applier; filter/merge/ is
# cl-merge, a delta merged into the last full stream; sync/parents/ is
# cl-parents, School Manager's parent upload files; sync/report/ is cl-report,
# the night's HTML report; fetch/bundle/ is cl-bundle, the OneRoster CSV
# bundle source (libarchive reads its zips); sync/why/ is cl-why, a user's
# story through a run folder.
SUBPROGS := load/apply filter/merge sync/parents sync/report fetch/bundle sync/why
$(B)/bin/cl-bundle: LDLIBS += -larchive
# cl-match compresses its spool of user lines when its input is a pipe.
$(B)/bin/cl-match $(B)/tests/match/unit_%: LDLIBS += -lzstd
# sync/ is cl-sync-run, the supervisor scripts/cl-sync runs a night with.
BINS := $(foreach p,$(PROGS),$(B)/bin/cl-$(p)) $(foreach p,$(SUBPROGS),$(B)/bin/cl-$(notdir $(p))) \
	$(B)/bin/cl-sync-run
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c) $(foreach p,$(PROGS),$(wildcard tests/$(p)/unit_*.c))
UNIT_BIN := $(UNIT_SRC:%.c=$(B)/%)
MANS := $(foreach p,$(PROGS),$(p)/cl-$(p).1) $(foreach p,$(SUBPROGS),$(p)/cl-$(notdir $(p)).1) \
	sync/cl-sync-run.1 $(wildcard scripts/*.1)
DEPS_OK := build/.deps-ok
# cl-sync beside the programs, as `make install` puts it: a link to
# scripts/cl-sync, so that what runs is always the script in the checkout.
SYNC_LINK := $(B)/bin/cl-sync

all: $(BINS) $(SYNC_LINK)

# Install what the build needs on a fresh Debian machine (or say how).
$(DEPS_OK): scripts/install-deps
	@scripts/install-deps build
	@mkdir -p build && touch $@

$(B)/%.o: %.c $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(SYNC_LINK): scripts/cl-sync
	@mkdir -p $(@D)
	ln -sfr scripts/cl-sync $@

$(B)/libcl.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

# One program per directory: every .c in it, linked with libcl.a.
define prog_rules
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$$(B)/%.o)
$$(B)/bin/cl-$(1): $$($(1)_OBJ) $$(B)/libcl.a
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(filter %.c %.o %.a,$$^) $$(LDLIBS)
# A program's unit tests link its objects except the one holding main().
$$(B)/tests/$(1)/unit_%: tests/$(1)/unit_%.c $$(filter-out $$(B)/$(1)/cl-$(1).o,$$($(1)_OBJ)) $$(B)/libcl.a
	@mkdir -p $$(@D)
	$$(CC) $$(CPPFLAGS) -I$(1) -Itests/unit $$(ALL_CFLAGS) -o $$@ $$(filter %.c %.o %.a,$$^) $$(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

# A program in a subfolder (load/apply -> cl-apply): every .c in it, linked
# with libcl.a (not with its stage's objects).
define subprog_rules
$(1)_SRC := $$(wildcard $(1)/*.c)
$(1)_OBJ := $$($(1)_SRC:%.c=$$(B)/%.o)
$$(B)/bin/cl-$(notdir $(1)): $$($(1)_OBJ) $$(B)/libcl.a
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(filter %.c %.o %.a,$$^) $$(LDLIBS)
endef
$(foreach p,$(SUBPROGS),$(eval $(call subprog_rules,$(p))))

SYNC_OBJ := $(patsubst %.c,$(B)/%.o,$(wildcard sync/*.c))
$(B)/bin/cl-sync-run: $(SYNC_OBJ) $(B)/libcl.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)

# Every libFuzzer harness, linked with a plain driver that replays files
# (tests/fuzz/t-replay runs them over tests/fuzz/corpus/ in make check).
FUZZ_SRC := $(sort $(wildcard tests/*/fuzz_*.c))
REPLAY_BIN := $(foreach h,$(FUZZ_SRC),$(B)/tests/replay/$(basename $(notdir $(h))))
# A harness #includes a program's .c files, which gcc's -MMD does not record
# for a link of two sources: every program source is a prerequisite.
PROG_SRC := $(foreach p,$(PROGS) $(SUBPROGS),$(wildcard $(p)/*.c $(p)/*.h))
define replay_rule
$(B)/tests/replay/$(basename $(notdir $(1))): $(1) tests/fuzz/replay.c tests/fuzz/fuzz.h $(PROG_SRC) $(B)/libcl.a
	@mkdir -p $$(@D)
	$$(CC) $$(CPPFLAGS) -Itests/fuzz $$(ALL_CFLAGS) -Wno-missing-prototypes -o $$@ $(1) tests/fuzz/replay.c $$(B)/libcl.a $$(LDLIBS)
endef
$(foreach h,$(FUZZ_SRC),$(eval $(call replay_rule,$(h))))

$(B)/tests/unit/test_%: tests/unit/test_%.c $(B)/libcl.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -Itests/unit $(ALL_CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)

# Test tools: the catalog printer and the identity stage.
$(B)/tests/%: tests/%.c $(B)/libcl.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $(filter %.c %.o %.a,$^) $(LDLIBS)

TOOLS := $(B)/tests/errors-md $(B)/tests/stream-cat

check: $(BINS) $(SYNC_LINK) $(UNIT_BIN) $(TOOLS) $(REPLAY_BIN)
	@scripts/install-deps check
	@B=$(B) VALGRIND=$(VALGRIND) tests/run

docs: $(B)/tests/errors-md
	$(B)/tests/errors-md > docs/errors.md

demo: $(BINS) $(SYNC_LINK)
	@scripts/install-deps check
	@B=$(B) scripts/demo

bench: $(BINS) $(TOOLS)
	@scripts/install-deps bench
	@SCALE=$(SCALE) B=$(B) bench/run

lint: $(DEPS_OK)
	@scripts/install-deps lint
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')
	mandoc -Tlint -W warning $(MANS)
	shellcheck -x scripts/cl-sync scripts/demo scripts/install-deps tests/run tests/fuzz/t-replay tests/apply/t-replay tests/apply/t-nights \
		tests/report/t-report tests/report/t-chromium
	$(MAKE) --no-print-directory B=build/analyzer analyze

analyze:
	@for f in $(LIB_SRC) $(foreach p,$(PROGS) $(SUBPROGS),$(wildcard $(p)/*.c)); do \
		echo "gcc -fanalyzer $$f"; \
		$(CC) $(CPPFLAGS) -std=c11 $(WARN) -O1 -fanalyzer -c $$f -o /dev/null || exit 1; \
	done

fuzz: $(DEPS_OK)
	@scripts/install-deps fuzz
	@mkdir -p build/fuzz
	@for h in $(sort $(wildcard tests/*/fuzz_*.c)); do \
		n=$$(basename $$h .c); \
		echo "== $$h ($(FUZZ_SECONDS) s)"; \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(CPPFLAGS) $$h \
			$(LIB_SRC) -o build/fuzz/$$n $(LDLIBS) || exit 1; \
		mkdir -p build/fuzz/corpus-$$n; \
		c=tests/fuzz/corpus/$${n#fuzz_}; [ -d $$c ] || c=; \
		build/fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			build/fuzz/corpus-$$n $$c || exit 1; \
	done

# cl-sync needs jq, flock and zstd where it runs: installed when make install
# runs as root, else named (a DESTDIR build for a package goes on).
install: $(BINS)
	@scripts/install-deps run || echo "make install: cl-sync needs the packages named above to run" >&2
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PREFIX)/share/cl-sync
	install -m 0755 $(BINS) scripts/cl-sync $(DESTDIR)$(BINDIR)
	install -m 0644 $(MANS) $(DESTDIR)$(MANDIR)/man1
	install -m 0644 docs/errors.md $(DESTDIR)$(PREFIX)/share/cl-sync/errors.md

clean:
	rm -rf build

.PHONY: all check docs demo bench lint analyze fuzz install clean
.DELETE_ON_ERROR:

-include $(shell find $(B) -name "*.d" 2>/dev/null)
