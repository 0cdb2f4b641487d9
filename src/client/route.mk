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

# The client's side of the PAC evaluator (src/pac/): spawn, load, kill and restart (pac_proc.c),
# the pipelined finds with a deadline each (pac_proc_queue.c). Not linked into the client yet;
# its test spawns the built evaluator.
noinst_LIBRARIES += src/client/libkgpacproc.a
src_client_libkgpacproc_a_SOURCES = src/client/route/pac_proc.c src/client/route/pac_proc.h \
	src/client/route/pac_proc_queue.c src/client/route/pac_proc_queue.h \
	src/client/route/pac_proc_priv.h
KG_PACPROC_LIBS = src/client/libkgpacproc.a src/shared/libkgpacproto.a

check_PROGRAMS += tests/unit/test_pac_eval
TESTS += tests/unit/test_pac_eval
tests_unit_test_pac_eval_SOURCES = tests/unit/test_pac_eval.c
tests_unit_test_pac_eval_CPPFLAGS = $(AM_CPPFLAGS) \
	-DKG_TEST_PAC_EVALUATOR='"$(abs_top_builddir)/src/pac/kernelgatekeeper-pac"'
tests_unit_test_pac_eval_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pac_eval_LDADD = $(KG_PACPROC_LIBS) $(CHECK_LIBS)
# (The evaluator it spawns is built by `all`, which `check` makes first.)

# PAC fetch (libcurl on a worker thread, result through an eventfd). Not linked into the client
# yet: the client links src/client/libkgpacfetch.a $(LIBCURL_LIBS) -lpthread. Its test forks a
# tiny HTTP server on 127.0.0.1.
noinst_LIBRARIES += src/client/libkgpacfetch.a
src_client_libkgpacfetch_a_SOURCES = src/client/route/pac_fetch.c src/client/route/pac_fetch.h
src_client_libkgpacfetch_a_CFLAGS = $(AM_CFLAGS) $(LIBCURL_CFLAGS) -pthread

check_PROGRAMS += tests/unit/test_pac_fetch
TESTS += tests/unit/test_pac_fetch
tests_unit_test_pac_fetch_SOURCES = tests/unit/test_pac_fetch.c
tests_unit_test_pac_fetch_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) -pthread
tests_unit_test_pac_fetch_LDADD = src/client/libkgpacfetch.a $(LIBCURL_LIBS) $(CHECK_LIBS) -lpthread

# WPAD discovery: option 252 from DHCP leases, the DNS walk (libpsl), the retry schedule.
# The client links src/client/libkgwpad.a $(LIBPSL_LIBS).
noinst_LIBRARIES += src/client/libkgwpad.a
src_client_libkgwpad_a_SOURCES = src/client/route/wpad.c src/client/route/wpad.h
src_client_libkgwpad_a_CFLAGS = $(AM_CFLAGS) $(LIBPSL_CFLAGS)

check_PROGRAMS += tests/unit/test_wpad
TESTS += tests/unit/test_wpad
tests_unit_test_wpad_SOURCES = tests/unit/test_wpad.c
tests_unit_test_wpad_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_wpad_LDADD = src/client/libkgwpad.a $(LIBPSL_LIBS) $(CHECK_LIBS)

# WPAD from NetworkManager's internal DHCP client, over D-Bus (sd-bus). The client links
# src/client/libkgnmwpad.a before src/client/libkgwpad.a, and $(LIBSYSTEMD_LIBS). Its test runs
# a private dbus-daemon and a fake NetworkManager of its own on it.
noinst_LIBRARIES += src/client/libkgnmwpad.a
src_client_libkgnmwpad_a_SOURCES = src/client/route/nm_wpad.c src/client/route/nm_wpad.h
src_client_libkgnmwpad_a_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS)

check_PROGRAMS += tests/unit/test_nm_wpad
TESTS += tests/unit/test_nm_wpad
tests_unit_test_nm_wpad_SOURCES = tests/unit/test_nm_wpad.c tests/unit/dbus_rig.c \
	tests/unit/dbus_rig.h
tests_unit_test_nm_wpad_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS)
tests_unit_test_nm_wpad_LDADD = src/client/libkgnmwpad.a src/client/libkgwpad.a $(LIBPSL_LIBS) \
	$(KG_SHARED_LIBS) $(CHECK_LIBS)

# The lease parsers and the resolv.conf search list / DNS walk under libFuzzer
# (tests/fuzz/run.sh builds and runs them).
EXTRA_DIST += tests/fuzz/fuzz_wpad_lease.c tests/fuzz/corpus/wpad_lease \
	tests/fuzz/fuzz_wpad_resolv.c tests/fuzz/corpus/wpad_resolv

# The network change watcher (rtnetlink, debounced) on the client's loop. The client links
# src/client/libkgnetwatch.a before src/client/libkgclientcore.a.
noinst_LIBRARIES += src/client/libkgnetwatch.a
src_client_libkgnetwatch_a_SOURCES = src/client/route/netwatch.c src/client/route/netwatch.h

check_PROGRAMS += tests/unit/test_netwatch
TESTS += tests/unit/test_netwatch
tests_unit_test_netwatch_SOURCES = tests/unit/test_netwatch.c
tests_unit_test_netwatch_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_netwatch_LDADD = src/client/libkgnetwatch.a src/client/libkgclientcore.a \
	$(KG_SHARED_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_netwatch.c tests/fuzz/corpus/netwatch

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

# The client's proxy policy (src/client/policy.c: the PAC's fetch, WPAD, the evaluator, network
# changes; policy_offnet.c: the off-network state and its probes), on top of the libraries above. The client and the rigs of
# test_tunnel/test_forward link it (the latter with no policy running: cl->policy is NULL).
noinst_LIBRARIES += src/client/libkgpolicy.a
src_client_libkgpolicy_a_SOURCES = src/client/policy.c src/client/policy.h \
	src/client/policy_offnet.c src/client/policy_offnet.h src/client/policy_priv.h \
	src/client/route/resolve_async.c src/client/route/resolve_async.h
src_client_libkgpolicy_a_CPPFLAGS = $(AM_CPPFLAGS) -DPKGLIBEXECDIR='"$(pkglibexecdir)"'
src_client_libkgpolicy_a_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS)
KG_POLICY_LIBS = src/client/libkgpolicy.a src/client/libkgpacfetch.a src/client/libkgnmwpad.a \
	src/client/libkgwpad.a \
	src/client/libkgnetwatch.a $(KG_PACENGINE_LIBS) $(LIBCURL_LIBS) $(LIBPSL_LIBS)

# The policy through the real loop, PAC fetch (an HTTP server the test forks on 127.0.0.1), the
# built evaluator and netwatch; ipc_client_set_direct() is the test's own recording stub.
check_PROGRAMS += tests/unit/test_policy
TESTS += tests/unit/test_policy
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c
tests_unit_test_policy_CPPFLAGS = $(AM_CPPFLAGS) \
	-DKG_TEST_PAC_EVALUATOR='"$(abs_top_builddir)/src/pac/kernelgatekeeper-pac"'
tests_unit_test_policy_CFLAGS = $(KG_CORE_TEST_CFLAGS)
tests_unit_test_policy_LDADD = $(KG_POLICY_LIBS) src/client/libkgclientcore.a $(KG_ROUTE_LIBS) \
	$(KG_SHARED_LIBS) $(CHECK_LIBS)
