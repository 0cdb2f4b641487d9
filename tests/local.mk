# Test harness: unit tests (check) live next to their module's fragment; here are the test
# instruments and the privileged integration tests of the service.
check_PROGRAMS += tests/helpers/kg-probe
tests_helpers_kg_probe_SOURCES = tests/helpers/kg-probe.c
tests_helpers_kg_probe_LDADD = $(KG_SHARED_LIBS)
check_PROGRAMS += tests/helpers/kg-nopipe
tests_helpers_kg_nopipe_SOURCES = tests/helpers/kg-nopipe.c

check_PROGRAMS += tests/unit/test_ipc
tests_unit_test_ipc_SOURCES = tests/unit/test_ipc.c
tests_unit_test_ipc_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_ipc_LDADD = $(KG_SHARED_LIBS) $(CHECK_LIBS)

check_PROGRAMS += tests/unit/test_cgroup
tests_unit_test_cgroup_SOURCES = tests/unit/test_cgroup.c src/service/cgroup.c
tests_unit_test_cgroup_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_cgroup_LDADD = $(CHECK_LIBS)

KG_INTEGRATION_TESTS = \
	tests/integration/datapath-steering.sh \
	tests/integration/datapath-security.sh \
	tests/integration/datapath-direct.sh \
	tests/integration/datapath-routes.sh \
	tests/integration/service-operations.sh \
	tests/integration/security-adversary.sh \
	tests/integration/client-warm.sh
TESTS += tests/unit/test_ipc tests/unit/test_cgroup $(KG_INTEGRATION_TESTS) tests/fuzz/run.sh
dist_check_SCRIPTS += $(KG_INTEGRATION_TESTS)
EXTRA_DIST += tests/lib/common.sh tests/lib/datapath.sh tests/lib/direct_server.py \
	tests/lib/notify_listener.py tests/lib/ipc_garbage.py tests/lib/adversary.py tests/lib/in-cgroup tests/fuzz/fuzz_ipc.c \
	tests/fuzz/corpus/ipc tests/run-suite tests/install-deps.sh tests/deps-debian.txt tests/demo.sh tests/lib/demo-run.sh
include $(srcdir)/tests/bench/local.mk

# Fuzz campaign (not part of `make check`, whose tests/fuzz/run.sh runs each target for
# KG_FUZZ_SECONDS): every libFuzzer target to KG_FUZZ_RUNS executions (default 10 million), at
# most KG_FUZZ_MAX_SECONDS each (default 1800), one at a time at the lowest CPU priority; the
# grown corpora are merged (-merge=1) into tests/fuzz/corpus/. KG_FUZZ_TARGETS="a b" picks
# targets, KG_FUZZ_MERGE=0 leaves the source tree alone.
fuzz-campaign:
	top_srcdir='$(abs_top_srcdir)' KG_FUZZ_RUNS="$${KG_FUZZ_RUNS:-10000000}" \
		KG_FUZZ_MERGE="$${KG_FUZZ_MERGE:-1}" nice -n 19 sh $(abs_top_srcdir)/tests/fuzz/run.sh
.PHONY: fuzz-campaign

# Package tests (root): the .deb in a booted Debian 12 (systemd-nspawn) and the RPM build.
# Both build from `make dist` in this build tree, so they must not run at the same time.
TESTS += tests/package/nspawn-deb.sh tests/package/rpm.sh
tests/package/rpm.log: tests/package/nspawn-deb.log

# Debian 12's own kernel (6.1) under QEMU/TCG: builds the .deb like the package tests and keeps
# both emulated CPUs busy for 5 to 8 minutes, so it runs after every other test has finished.
# `make check-kernel` runs it alone.
KG_KERNEL_TESTS = tests/kernel/debian-6.1.sh
TESTS += $(KG_KERNEL_TESTS)
EXTRA_DIST += $(KG_KERNEL_TESTS) tests/kernel/vm-rig.sh tests/kernel/guest.sh
tests/kernel/debian-6.1.log: $(filter-out $(KG_KERNEL_TESTS:.sh=.log),$(TEST_LOGS))
check-kernel:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='$(KG_KERNEL_TESTS)'
.PHONY: check-kernel

# Formatting: `make format` applies .clang-format to every C file; the test (and
# `make format-check`) fails on any file that differs or includes a header by a relative path.
TESTS += tests/style/format-check.sh
dist_check_SCRIPTS += tests/style/format-check.sh
format-check:
	top_srcdir='$(abs_top_srcdir)' bash $(abs_top_srcdir)/tests/style/format-check.sh
format:
	cd $(abs_top_srcdir) && find src bpf tests -name '*.[ch]' ! -name '*.skel.h' ! -name vmlinux.h \
		-exec clang-format -i {} +
.PHONY: format-check format

# make coverage, make coverage-check
include $(srcdir)/tests/coverage/local.mk

# The client's modules depend on one another without a circle (their #include lines).
TESTS += tests/style/client-deps.sh
dist_check_SCRIPTS += tests/style/client-deps.sh
