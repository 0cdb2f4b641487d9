# The PAC evaluator (issue 13, groundwork: the client does not spawn it yet): its wire
# protocol. Included after tests/local.mk.
noinst_LIBRARIES += src/shared/libkgpacproto.a
src_shared_libkgpacproto_a_SOURCES = src/shared/pac_proto.c src/shared/pac_proto.h

check_PROGRAMS += tests/unit/test_pac_proto
TESTS += tests/unit/test_pac_proto
tests_unit_test_pac_proto_SOURCES = tests/unit/test_pac_proto.c
tests_unit_test_pac_proto_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_pac_proto_LDADD = src/shared/libkgpacproto.a $(CHECK_LIBS)

