# etcd-ansible: static C Ansible modules, tests, demo.
#   make            static module binaries into library/
#   make deps       Debian packages + static libcurl/libsystemd into build/deps/ (root)
#   make test       everything the CI runs (unit under ASan/UBSan, lint, static proof,
#                   integration against real peers, e2e playbooks on local test hosts)
#   make fuzz       libFuzzer: args, envelope, tar, snapshot, s3_xml targets, FUZZ_SECONDS each
#                   (default 60; FUZZ_TARGETS="tar envelope" picks some)
#   make lint       clang-tidy + cppcheck
#   make collection the Ansible collection etcd_ansible.etcd into build/collection/
#   make ansible-check  module docs vs option tables, playbook syntax, ansible-lint, collection
#   make demo       local test hosts + a demo deployment; make demo-down tears it down

CC       ?= cc
NPROC    := $(shell nproc 2>/dev/null || echo 2)
# make Q= shows the full commands
Q        ?= @
DEPS     := build/deps
OBJ      := build/obj
LIBDIR   := library

MODULES  := $(patsubst modules/%.c,%,$(wildcard modules/*.c))
BINARIES := $(addprefix $(LIBDIR)/,$(MODULES))
REAL_BINARIES := $(addprefix $(LIBDIR)/.bin/,$(MODULES))
DOCS     := $(patsubst modules/%.yml,$(LIBDIR)/%.yml,$(wildcard modules/*.yml)) \
            $(patsubst modules/%.yml,$(LIBDIR)/%.ini,$(wildcard modules/*.yml))
UTILS_SRC := $(wildcard module_utils/*.c)
UTILS_OBJ := $(patsubst module_utils/%.c,$(OBJ)/%.o,$(UTILS_SRC))
DEP_LIBS := $(DEPS)/lib/libcurl.a $(DEPS)/lib/libsystemd.a $(DEPS)/openssl/lib/libcrypto.a

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral
CPPFLAGS := -D_GNU_SOURCE -Imodule_utils -I$(DEPS)/include -DCURL_STATICLIB
CFLAGS   := -std=c11 -Os $(WARN) -ffunction-sections -fdata-sections -fstack-protector-strong
LDFLAGS  := -static -Wl,--gc-sections -s
# OpenSSL: Debian's source built with only what the modules use (scripts/deps.sh), so each static
# module stays under 4 MiB; the unit tests link the system's shared one.
OPENSSL  := $(DEPS)/openssl
LDLIBS   := $(DEPS)/lib/libcurl.a -lcares $(OPENSSL)/lib/libssl.a $(OPENSSL)/lib/libcrypto.a -lz \
            -ljansson $(DEPS)/lib/libsystemd.a -lcap -pthread

# Unit tests: dynamic, with sanitizers, against the same sources.
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
TEST_CFLAGS := -std=c11 -O1 -g $(WARN) $(SAN)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_OBJ := build/unit/obj
UNIT_BIN := $(patsubst tests/unit/%.c,build/unit/%,$(UNIT_SRC))

# Objects are intermediate files of the pattern rules: keep them so a rebuild is incremental.
.SECONDARY:

.PHONY: all deps test unit static integration e2e fuzz lint playbooks demo demo-down bench clean collection ansible-check
all: $(REAL_BINARIES) $(BINARIES) $(DOCS)

deps:
	scripts/deps.sh

# One recipe builds them all (grouped target): a parallel make must not run it once per library.
$(DEP_LIBS) &:
	scripts/deps.sh

$(OBJ)/%.o: module_utils/%.c module_utils/*.h $(DEP_LIBS) | $(OBJ)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(OBJ)/mod_%.o: modules/%.c module_utils/*.h $(DEP_LIBS) | $(OBJ)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# glibc's warnings about getpw*/dlopen in static links go to the log: our code never calls them
# (accounts come from fs.c, DNS from c-ares; libcrypto's dlopen is for engines we never load).
# module_utils as an archive: each module links only the objects it uses (smaller binaries,
# and Ansible copies the binary on every task).
UTILS_LIB := $(OBJ)/libmodule_utils.a
$(UTILS_LIB): $(UTILS_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBDIR)/.bin/%: $(OBJ)/mod_%.o $(UTILS_LIB) | $(LIBDIR)/.bin
	@echo "  LD      $@ (static)"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) 2>$(OBJ)/link-$*.log || { cat $(OBJ)/link-$*.log; exit 1; }

# library/NAME is a link to the binary in library/.bin/ and library/NAME.ini a copy of its docs:
# ansible-core before 2.17 (ansible/ansible#85279) reads a binary module as text for
# `ansible-doc -l` and lists it as a "documentation formatting error". The listing skips links
# and lists NAME.ini (the loader never runs .ini files); running a task follows the link.
$(LIBDIR)/%: $(LIBDIR)/.bin/% | $(LIBDIR)
	$(Q)ln -sfn .bin/$* $@

# Sidecar docs beside the binaries, so `ansible-doc -M library NAME` finds them.
$(LIBDIR)/%.yml: modules/%.yml | $(LIBDIR)
	$(Q)cp $< $@
$(LIBDIR)/%.ini: modules/%.yml | $(LIBDIR)
	$(Q)cp $< $@

$(OBJ) $(LIBDIR) $(LIBDIR)/.bin build/unit $(UNIT_OBJ):
	mkdir -p $@

# module_utils compiled once with the sanitizers, as an archive every test links (compiling all of
# it again for each of the 25 tests cost CI about six minutes).
UNIT_UTILS_OBJ := $(patsubst module_utils/%.c,$(UNIT_OBJ)/%.o,$(UTILS_SRC))
UNIT_UTILS_LIB := $(UNIT_OBJ)/libmodule_utils_san.a
$(UNIT_OBJ)/%.o: module_utils/%.c module_utils/*.h | $(UNIT_OBJ) $(DEP_LIBS)
	@echo "  CC      $< (ASan+UBSan)"
	$(Q)$(CC) $(CPPFLAGS) $(TEST_CFLAGS) -c -o $@ $<
$(UNIT_UTILS_LIB): $(UNIT_UTILS_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

build/unit/%: tests/unit/%.c $(UNIT_UTILS_LIB) tests/unit/*.h | build/unit $(DEP_LIBS)
	@echo "  CC      $@ (ASan+UBSan)"
	$(Q)$(CC) $(CPPFLAGS) -Itests/unit $(TEST_CFLAGS) -o $@ $< $(UNIT_UTILS_LIB) \
	    -L$(DEPS)/lib -lcurl -lcares -lssl -lcrypto -lz -ljansson -lsystemd -lcap -lcmocka -pthread

unit: $(UNIT_BIN)
	@tests/unit/run.sh $(UNIT_BIN)

static: all
	tests/static/check_static.sh $(BINARIES)

integration: all
	tests/integration/run.sh

e2e: all
	tests/e2e/run.sh

test: deps
	$(MAKE) -j$(NPROC) all
	$(MAKE) -j$(NPROC) unit
	$(MAKE) lint
	$(MAKE) playbooks
	$(MAKE) static
	$(MAKE) ansible-check
	$(MAKE) integration
	$(MAKE) e2e

# The Ansible collection etcd_ansible.etcd: build/collection/etcd_ansible-etcd-VERSION.tar.gz
collection: all
	scripts/collection.sh

# Ansible-side checks: module docs against the option tables, --syntax-check of every playbook,
# ansible-lint --profile production, the collection built, installed and used by FQCN.
ansible-check: all
	tests/ansible/run.sh

# The roles diagram (README, docs/): committed, regenerated from its Graphviz source.
docs/ansible-roles.png: docs/ansible-roles.dot
	dot -Tpng -Gdpi=110 $< -o $@

fuzz:
	FUZZ_TARGETS="$(FUZZ_TARGETS)" tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60)

lint:
	tests/lint.sh

# Every shipped playbook passes ansible-playbook --syntax-check with no extra variables.
playbooks:
	tests/playbooks/syntax.sh

demo: all
	scripts/demo.sh up

demo-down:
	scripts/demo.sh down

# Benchmarks (issue #6): a markdown table on stdout, bench/results/latest.json; always exits 0.
# BENCH_RUNS=5 BENCH_DB_MIB=1024 BENCH_ITEMS="1 2 3 4"; items 2-4 use the test hosts (HOSTS_*).
bench: all
	bench/run.sh

clean:
	rm -rf $(OBJ) build/unit build/fuzz $(LIBDIR)
