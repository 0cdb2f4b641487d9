# Routes (issue 13, groundwork): route lists from a PAC answer or proxy.url, failover
# bookkeeping and the PAC functions that need no DNS. Pure modules without I/O, not yet linked
# into the client; their unit tests and the fuzz target below.
noinst_LIBRARIES += src/client/libkgroute.a
src_client_libkgroute_a_SOURCES = \
	src/client/route/route.c src/client/route/route.h \
	src/client/route/failover.c src/client/route/failover.h \
	src/client/route/pac_funcs.c src/client/route/pac_funcs.h

# Users of the library also link src/client/libkgclientparse.a (authority parsing).
KG_ROUTE_LIBS = src/client/libkgroute.a src/client/libkgclientparse.a

check_PROGRAMS += tests/unit/test_route tests/unit/test_failover tests/unit/test_pac_funcs
TESTS += tests/unit/test_route tests/unit/test_failover tests/unit/test_pac_funcs

tests_unit_test_route_SOURCES = tests/unit/test_route.c
tests_unit_test_route_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_route_LDADD = $(KG_ROUTE_LIBS) $(CHECK_LIBS)

tests_unit_test_failover_SOURCES = tests/unit/test_failover.c
tests_unit_test_failover_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_failover_LDADD = $(KG_ROUTE_LIBS) $(CHECK_LIBS)

tests_unit_test_pac_funcs_SOURCES = tests/unit/test_pac_funcs.c
tests_unit_test_pac_funcs_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pac_funcs_LDADD = $(KG_ROUTE_LIBS) $(CHECK_LIBS)

# The PAC-answer and proxy.url parsers under libFuzzer (tests/fuzz/run.sh builds and runs it).
EXTRA_DIST += tests/fuzz/fuzz_route.c tests/fuzz/corpus/route

# The client's side of the PAC evaluator (src/pac/): spawn, load, find with a deadline, kill
# and restart. Not linked into the client yet; its test spawns the built evaluator.
noinst_LIBRARIES += src/client/libkgpacproc.a
src_client_libkgpacproc_a_SOURCES = src/client/route/pac_proc.c src/client/route/pac_proc.h
KG_PACPROC_LIBS = src/client/libkgpacproc.a src/shared/libkgpacproto.a

check_PROGRAMS += tests/unit/test_pac_eval
TESTS += tests/unit/test_pac_eval
tests_unit_test_pac_eval_SOURCES = tests/unit/test_pac_eval.c
tests_unit_test_pac_eval_CPPFLAGS = $(AM_CPPFLAGS) \
	-DKG_TEST_PAC_EVALUATOR='"$(abs_top_builddir)/src/pac/kernelgatekeeper-pac"'
tests_unit_test_pac_eval_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pac_eval_LDADD = $(KG_PACPROC_LIBS) $(CHECK_LIBS)
# (The evaluator it spawns is built by `all`, which `check` makes first.)

# The PAC engine (pac_engine.h): the evaluator and the DNS cache (dns_cache.h) on a worker
# thread, answers through an eventfd. Not linked into the client yet; the integrator adds
# $(KG_PACENGINE_LIBS) to the client's LDADD. Its tests spawn the built evaluator and answer
# DNS from a server of their own on 127.0.0.1.
noinst_LIBRARIES += src/client/libkgpacengine.a
src_client_libkgpacengine_a_SOURCES = \
	src/client/route/pac_engine.c src/client/route/pac_engine.h \
	src/client/route/dns_cache.c src/client/route/dns_cache.h
src_client_libkgpacengine_a_CFLAGS = $(AM_CFLAGS) -pthread
KG_PACENGINE_LIBS = src/client/libkgpacengine.a $(KG_PACPROC_LIBS) $(KG_ROUTE_LIBS) \
	$(KG_SHARED_LIBS) -lresolv -lpthread

check_PROGRAMS += tests/unit/test_dns_cache tests/unit/test_pac_engine
TESTS += tests/unit/test_dns_cache tests/unit/test_pac_engine
tests_unit_test_dns_cache_SOURCES = tests/unit/test_dns_cache.c tests/unit/dns_server.c \
	tests/unit/dns_server.h
tests_unit_test_dns_cache_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_unit_test_dns_cache_LDADD = $(KG_PACENGINE_LIBS) $(CHECK_LIBS)

tests_unit_test_pac_engine_SOURCES = tests/unit/test_pac_engine.c tests/unit/dns_server.c \
	tests/unit/dns_server.h
tests_unit_test_pac_engine_CPPFLAGS = $(AM_CPPFLAGS) \
	-DKG_TEST_PAC_EVALUATOR='"$(abs_top_builddir)/src/pac/kernelgatekeeper-pac"'
tests_unit_test_pac_engine_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_unit_test_pac_engine_LDADD = $(KG_PACENGINE_LIBS) $(CHECK_LIBS)

# The DNS answer parser under libFuzzer (tests/fuzz/run.sh builds and runs it).
EXTRA_DIST += tests/fuzz/fuzz_dns_answer.c tests/fuzz/corpus/dns_answer
