# Routes (issue 13, groundwork): route lists from a PAC answer or proxy.url, failover
# bookkeeping and the PAC functions that need no DNS. Pure modules without I/O, not yet linked
# into the client; their unit tests and the fuzz target below.
noinst_LIBRARIES += src/client/libkgroute.a
src_client_libkgroute_a_SOURCES = \
	src/client/route/route.c src/client/route/route.h \
	src/client/route/failover.c src/client/route/failover.h

# Users of the library also link src/client/libkgclientparse.a (authority parsing).
KG_ROUTE_LIBS = src/client/libkgroute.a src/client/libkgclientparse.a

check_PROGRAMS += tests/unit/test_route tests/unit/test_failover
TESTS += tests/unit/test_route tests/unit/test_failover

tests_unit_test_route_SOURCES = tests/unit/test_route.c
tests_unit_test_route_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_route_LDADD = $(KG_ROUTE_LIBS) $(CHECK_LIBS)

tests_unit_test_failover_SOURCES = tests/unit/test_failover.c
tests_unit_test_failover_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_failover_LDADD = $(KG_ROUTE_LIBS) $(CHECK_LIBS)
