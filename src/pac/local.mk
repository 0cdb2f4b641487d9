# The PAC evaluator (issue 13, groundwork: the client does not spawn it yet):
# kernelgatekeeper-pac, Duktape in a sandboxed process, its wire protocol, their tests, the
# protocol's fuzz target and the decisions-per-second benchmark. Included after
# tests/local.mk (it appends to the bench lists defined there).
noinst_LIBRARIES += src/shared/libkgpacproto.a
src_shared_libkgpacproto_a_SOURCES = src/shared/pac_proto.c src/shared/pac_proto.h

pkglibexec_PROGRAMS = src/pac/kernelgatekeeper-pac
src_pac_kernelgatekeeper_pac_SOURCES = src/pac/main.c src/pac/js.c src/pac/js.h \
	src/pac/sandbox.c src/pac/sandbox.h
src_pac_kernelgatekeeper_pac_CFLAGS = $(AM_CFLAGS) $(DUKTAPE_CFLAGS)
src_pac_kernelgatekeeper_pac_LDADD = src/client/libkgroute.a src/shared/libkgpacproto.a \
	$(DUKTAPE_LIBS)

check_PROGRAMS += tests/unit/test_pac_proto
TESTS += tests/unit/test_pac_proto
tests_unit_test_pac_proto_SOURCES = tests/unit/test_pac_proto.c
tests_unit_test_pac_proto_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pac_proto_LDADD = src/shared/libkgpacproto.a $(CHECK_LIBS)

# The message parser under libFuzzer (tests/fuzz/run.sh builds and runs it).
EXTRA_DIST += tests/fuzz/fuzz_pac_proto.c tests/fuzz/corpus/pac_proto

# PAC decisions per second through the evaluator (`make bench`; unprivileged).
EXTRA_PROGRAMS += tests/bench/pac-bench
tests_bench_pac_bench_SOURCES = tests/bench/pac-bench.c tests/unit/dns_server.c \
	tests/unit/dns_server.h
tests_bench_pac_bench_CFLAGS = $(AM_CFLAGS) -pthread
tests_bench_pac_bench_LDADD = $(KG_PACENGINE_LIBS)
CLEANFILES += tests/bench/pac-bench
KG_BENCHES += tests/bench/pac-bench.sh
bench: tests/bench/pac-bench src/pac/kernelgatekeeper-pac
