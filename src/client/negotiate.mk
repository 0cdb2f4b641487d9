# Kerberos/SPNEGO for the client (auth/), its test against a throwaway KDC, and the
# Kerberos + Negotiate proxy rig the client's end-to-end tests share (tests/lib/krbrig.sh).
# Users of the library also link src/client/libkgclientparse.a (base64) and the GSSAPI/krb5 libs.
noinst_LIBRARIES += src/client/libkgnegotiate.a
src_client_libkgnegotiate_a_SOURCES = src/client/auth/negotiate.c src/client/auth/negotiate.h \
	src/client/auth/negotiate_error.c src/client/auth/negotiate_error.h \
	src/client/auth/negotiate_ccache.c src/client/auth/negotiate_ccache.h \
	src/client/auth/keytab.c src/client/auth/keytab.h
src_client_libkgnegotiate_a_CFLAGS = $(AM_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS)

KG_NEGOTIATE_LIBS = src/client/libkgnegotiate.a src/client/libkgclientparse.a \
	$(GSSAPI_LIBS) $(KRB5_LIBS)

check_PROGRAMS += tests/unit/test_negotiate
tests_unit_test_negotiate_SOURCES = tests/unit/test_negotiate.c tests/unit/kdc_rig.c \
	tests/unit/kdc_rig.h
tests_unit_test_negotiate_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_negotiate_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS)
tests_unit_test_negotiate_LDADD = $(KG_NEGOTIATE_LIBS) $(CHECK_LIBS)

# The Kerberos worker queue (auth/authq.c) on the same throwaway KDC, plus a fake one of its own.
check_PROGRAMS += tests/unit/test_authq
tests_unit_test_authq_SOURCES = tests/unit/test_authq.c tests/unit/kdc_rig.c \
	tests/unit/kdc_rig.h src/client/auth/authq.c src/client/auth/authq.h
tests_unit_test_authq_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_authq_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(GSSAPI_CFLAGS) $(KRB5_CFLAGS) \
	-pthread
tests_unit_test_authq_LDADD = $(KG_NEGOTIATE_LIBS) $(KG_SHARED_LIBS) $(CHECK_LIBS) -lpthread

TESTS += tests/unit/test_negotiate tests/unit/test_authq tests/integration/rig-selftest.sh \
	tests/integration/client-rig-i13.sh
dist_check_SCRIPTS += tests/integration/rig-selftest.sh tests/integration/client-rig-i13.sh
# Issue 13 end to end: hostile PACs, off the network, myIpAddress on two links, the routes in
# ctl watch.
KG_I13_E2E_TESTS = tests/integration/client-pac-hostile.sh tests/integration/client-offnet.sh \
	tests/integration/client-pac-myip.sh tests/integration/client-offnet-pac.sh \
	tests/integration/client-watch-routes.sh
TESTS += $(KG_I13_E2E_TESTS)
dist_check_SCRIPTS += $(KG_I13_E2E_TESTS)
EXTRA_DIST += tests/lib/krbrig.sh tests/lib/krbrig-kdc.sh tests/lib/origin.py \
	tests/lib/pacrig.sh tests/lib/pac_server.py tests/lib/dnsq.py

# The system relay's keytab tickets (auth/keytab.c, issue 17) on the same throwaway KDC.
check_PROGRAMS += tests/unit/test_keytab
TESTS += tests/unit/test_keytab
tests_unit_test_keytab_SOURCES = tests/unit/test_keytab.c tests/unit/kdc_rig.c tests/unit/kdc_rig.h
tests_unit_test_keytab_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_keytab_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(KRB5_CFLAGS) -pthread
tests_unit_test_keytab_LDADD = $(KG_NEGOTIATE_LIBS) $(KG_SHARED_LIBS) $(CHECK_LIBS) -lpthread
