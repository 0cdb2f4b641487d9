# kernelgatekeeper-client: the per-user relay daemon.
include $(srcdir)/src/client/parsers.mk
include $(srcdir)/src/client/negotiate.mk

# The event core: the loop, the byte pump and the connections. It names no other module of the
# client (conn.c only needs authq_job_free() and the settings' references from the program),
# so the unit tests link it alone.
noinst_LIBRARIES += src/client/libkgclientcore.a
src_client_libkgclientcore_a_SOURCES = \
	src/client/loop.c src/client/loop.h src/client/pump.c src/client/pump.h \
	src/client/conn.c src/client/conn.h
src_client_libkgclientcore_a_CFLAGS = $(AM_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS) \
	$(LIBCONFIG_CFLAGS)

bin_PROGRAMS += src/client/kernelgatekeeper-client
src_client_kernelgatekeeper_client_SOURCES = \
	src/client/main.c src/client/client.h \
	src/client/ipc_client.c src/client/ipc_client.h src/client/ipc_sockwatch.c \
	src/client/ipc_sockwatch.h src/client/ipc_report.c \
	src/client/ipc_report_route.c src/client/ipc_report.h \
	src/client/desktop_notify.c src/client/desktop_notify.h \
	src/client/settings.c src/client/settings.h \
	src/client/accept.c src/client/accept.h \
	src/client/tunnel.c src/client/tunnel.h src/client/name_guess.c src/client/name_guess.h \
	src/client/upstream.c src/client/upstream_auth.c src/client/upstream_answer.c \
	src/client/upstream_warm.c src/client/upstream_addr.c src/client/upstream_priv.h \
	src/client/upstream.h src/client/token_slot.h src/client/tokenless.h \
	src/client/forward.c src/client/forward.h \
	src/client/warm.c src/client/warm.h \
	src/client/upstream_tls.c src/client/upstream_tls.h \
	src/client/proxy_tls.c src/client/proxy_tls.h \
	src/client/proxy_tls_ctx.c src/client/proxy_tls_ctx.h \
	src/client/auth/authq.c src/client/auth/authq.h
src_client_kernelgatekeeper_client_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(GSSAPI_CFLAGS) \
	$(KRB5_CFLAGS) $(LIBCONFIG_CFLAGS) $(SSL_CFLAGS) -pthread
# libkgnegotiate uses the parsers' base64: it comes first.
src_client_kernelgatekeeper_client_LDADD = $(KG_POLICY_LIBS) src/client/libkgclientcore.a \
	src/client/libkgroute.a src/client/libkgnegotiate.a src/client/libkgclientparse.a $(KG_SHARED_LIBS) \
	$(GSSAPI_LIBS) $(KRB5_LIBS) $(SSL_LIBS) -lpthread

# The IPC link against a fake service; the loop and the Kerberos worker are stubs in the test.
check_PROGRAMS += tests/unit/test_ipc_client
TESTS += tests/unit/test_ipc_client
tests_unit_test_ipc_client_SOURCES = tests/unit/test_ipc_client.c src/client/ipc_client.c \
	src/client/ipc_sockwatch.c \
	src/client/ipc_report.c src/client/ipc_report_route.c src/client/settings.c \
	src/client/proxy_tls.c src/client/proxy_tls_ctx.c src/client/desktop_notify.c
tests_unit_test_ipc_client_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(GSSAPI_CFLAGS) $(KRB5_CFLAGS) $(LIBCONFIG_CFLAGS) $(SSL_CFLAGS)
tests_unit_test_ipc_client_LDADD = $(KG_ROUTE_LIBS) $(KG_SHARED_LIBS) $(SSL_LIBS) $(CHECK_LIBS) \
	-lpthread

# Desktop notices of the ticket (desktop_notify.c) against a private dbus-daemon and a
# recording notification server of the test's own on it (sd-bus). Unprivileged.
check_PROGRAMS += tests/unit/test_desktop_notify
TESTS += tests/unit/test_desktop_notify
tests_unit_test_desktop_notify_SOURCES = tests/unit/test_desktop_notify.c \
	tests/unit/dbus_rig.c tests/unit/dbus_rig.h \
	src/client/desktop_notify.c src/client/desktop_notify.h
tests_unit_test_desktop_notify_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(GSSAPI_CFLAGS) $(KRB5_CFLAGS) -pthread
tests_unit_test_desktop_notify_LDADD = $(KG_SHARED_LIBS) $(CHECK_LIBS) -lpthread

# TLS to an HTTPS proxy (issue 14) against the test's own OpenSSL server on 127.0.0.1, with
# certificates made at run time by tests/lib/tlscerts.sh. Unprivileged.
check_PROGRAMS += tests/unit/test_proxy_tls
TESTS += tests/unit/test_proxy_tls
tests_unit_test_proxy_tls_SOURCES = tests/unit/test_proxy_tls.c src/client/proxy_tls.c \
	src/client/proxy_tls.h src/client/proxy_tls_ctx.c src/client/proxy_tls_ctx.h \
	src/shared/text.c
tests_unit_test_proxy_tls_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_proxy_tls_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(SSL_CFLAGS)
tests_unit_test_proxy_tls_LDADD = $(SSL_LIBS) $(CHECK_LIBS)
EXTRA_DIST += tests/lib/tlscerts.sh
# What the proxy answers to our ClientHello, and its sentences, under libFuzzer (tests/fuzz/run.sh).
EXTRA_DIST += tests/fuzz/fuzz_proxy_tls.c tests/fuzz/corpus/proxy_tls

# End-to-end tests (root, real KDC and Squid/Apache from tests/lib/krbrig.sh).
CLIENT_TESTS = tests/integration/client-basic.sh tests/integration/client-failures.sh \
	tests/integration/client-bulk.sh tests/integration/client-apache.sh \
	tests/integration/security-adversary-relay.sh tests/integration/client-https-proxy.sh
# A burst of 2,000 steered connects: no listen-queue overflow, no 1 s SYN retransmit (issue 15).
CLIENT_TESTS += tests/integration/client-burst.sh
# The system relay with the host's keytab for root and an _apt-like user (issue 17).
CLIENT_TESTS += tests/integration/system-relay.sh
# Desktop notices of the ticket on a private session bus (issue 18).
CLIENT_TESTS += tests/integration/client-desktop-notify.sh
TESTS += $(CLIENT_TESTS)
dist_check_SCRIPTS += $(CLIENT_TESTS)
EXTRA_DIST += tests/helpers/client-lib.sh tests/lib/rider.py

# upstream.c against a scripted fake proxy on 127.0.0.1 (unprivileged): the relay loop and the
# Kerberos worker are link seams in the test, the token source a fake (see its head comment).
check_PROGRAMS += tests/unit/test_upstream
tests_unit_test_upstream_SOURCES = tests/unit/test_upstream.c src/client/upstream.c \
	src/client/upstream_auth.c src/client/upstream_answer.c src/client/upstream_warm.c \
	src/client/upstream_addr.c src/client/upstream_priv.h src/client/upstream.h \
	src/client/upstream_tls.c src/client/pump.c src/client/proxy_tls.c \
	src/client/proxy_tls_ctx.c \
	src/client/settings.c src/client/auth/negotiate_error.c
tests_unit_test_upstream_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_upstream_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS) \
	$(LIBCONFIG_CFLAGS) $(SSL_CFLAGS)
tests_unit_test_upstream_LDADD = $(KG_ROUTE_LIBS) $(KG_SHARED_LIBS) $(GSSAPI_LIBS) \
	$(KRB5_LIBS) $(SSL_LIBS) $(CHECK_LIBS)
TESTS += tests/unit/test_upstream
include $(srcdir)/src/client/route.mk

# Unit tests of the event core: socketpairs only, no root, no network, no KDC.
check_PROGRAMS += tests/unit/test_loop tests/unit/test_pump tests/unit/test_conn
TESTS += tests/unit/test_loop tests/unit/test_pump tests/unit/test_conn
KG_CORE_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS) \
	$(LIBCONFIG_CFLAGS)
KG_CORE_TEST_LDADD = src/client/libkgclientcore.a $(KG_SHARED_LIBS) $(CHECK_LIBS)

tests_unit_test_loop_SOURCES = tests/unit/test_loop.c
tests_unit_test_loop_CFLAGS = $(KG_CORE_TEST_CFLAGS)
tests_unit_test_loop_LDADD = $(KG_CORE_TEST_LDADD)

tests_unit_test_pump_SOURCES = tests/unit/test_pump.c
tests_unit_test_pump_CFLAGS = $(KG_CORE_TEST_CFLAGS)
tests_unit_test_pump_LDADD = $(KG_CORE_TEST_LDADD)

# test_conn stands in for the Kerberos queue and the settings (fake jobs, fake settings).
tests_unit_test_conn_SOURCES = tests/unit/test_conn.c
tests_unit_test_conn_CFLAGS = $(KG_CORE_TEST_CFLAGS)
tests_unit_test_conn_LDADD = $(KG_CORE_TEST_LDADD)

# tunnel.c and forward.c through the real event core, against a scripted fake proxy on
# 127.0.0.1 (tests/unit/fake_proxy.c): only the Kerberos worker and the token source are fakes.
check_PROGRAMS += tests/unit/test_tunnel tests/unit/test_forward
TESTS += tests/unit/test_tunnel tests/unit/test_forward
KG_RIG_SOURCES = tests/unit/fake_proxy.c tests/unit/fake_proxy.h src/client/upstream.c \
	src/client/upstream_auth.c src/client/upstream_answer.c src/client/upstream_warm.c \
	src/client/upstream_addr.c src/client/upstream_priv.h src/client/upstream.h \
	src/client/upstream_tls.c src/client/proxy_tls.c src/client/proxy_tls_ctx.c \
	src/client/settings.c \
	src/client/auth/negotiate_error.c src/client/ipc_report_route.c
KG_RIG_CFLAGS = $(KG_CORE_TEST_CFLAGS) $(SSL_CFLAGS) -I$(top_srcdir) \
	-DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
KG_RIG_LDADD = $(KG_POLICY_LIBS) src/client/libkgclientcore.a $(KG_ROUTE_LIBS) $(KG_SHARED_LIBS) \
	$(GSSAPI_LIBS) $(KRB5_LIBS) $(SSL_LIBS) $(CHECK_LIBS)

tests_unit_test_tunnel_SOURCES = tests/unit/test_tunnel.c src/client/tunnel.c \
	src/client/name_guess.c src/client/name_guess.h $(KG_RIG_SOURCES)
tests_unit_test_tunnel_CFLAGS = $(KG_RIG_CFLAGS)
tests_unit_test_tunnel_LDADD = $(KG_RIG_LDADD)

# The CONNECT sent before the ClientHello: name_guess.c alone, then through tunnel.c (the same rig).
check_PROGRAMS += tests/unit/test_name_guess
TESTS += tests/unit/test_name_guess
tests_unit_test_name_guess_SOURCES = tests/unit/test_name_guess.c src/client/tunnel.c \
	src/client/name_guess.c src/client/name_guess.h $(KG_RIG_SOURCES)
tests_unit_test_name_guess_CFLAGS = $(KG_RIG_CFLAGS)
tests_unit_test_name_guess_LDADD = $(KG_RIG_LDADD)

tests_unit_test_forward_SOURCES = tests/unit/test_forward.c src/client/forward.c \
	$(KG_RIG_SOURCES)
tests_unit_test_forward_CFLAGS = $(KG_RIG_CFLAGS)
tests_unit_test_forward_LDADD = $(KG_RIG_LDADD)

# Warm proxy connections (warm.c): the count policy, and the pool with the real loop against a
# listener on 127.0.0.1; the Kerberos worker is a fake. Unprivileged.
check_PROGRAMS += tests/unit/test_warm
TESTS += tests/unit/test_warm
tests_unit_test_warm_SOURCES = tests/unit/test_warm.c src/client/warm.c src/client/warm.h
tests_unit_test_warm_CFLAGS = $(KG_CORE_TEST_CFLAGS)
tests_unit_test_warm_LDADD = $(KG_CORE_TEST_LDADD)

# The settings the relay makes of the service's KG_MSG_CONFIG (the service's own encoder).
check_PROGRAMS += tests/unit/test_settings
TESTS += tests/unit/test_settings
tests_unit_test_settings_SOURCES = tests/unit/test_settings.c src/client/settings.c \
	src/client/proxy_tls.c src/client/proxy_tls_ctx.c
tests_unit_test_settings_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(LIBCONFIG_CFLAGS) $(SSL_CFLAGS)
tests_unit_test_settings_LDADD = $(KG_ROUTE_LIBS) $(KG_SHARED_LIBS) $(SSL_LIBS) $(CHECK_LIBS)
