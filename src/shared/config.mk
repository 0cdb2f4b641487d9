# Configuration and logging (appended to libkgshared), their unit tests and fuzz target.
# log_libbpf.c is separate so that only programs calling kg_log_route_libbpf() link libbpf.
src_shared_libkgshared_a_SOURCES += \
	src/shared/config.c src/shared/config.h src/shared/config_load.c src/shared/config_priv.h \
	src/shared/config_scan.c src/shared/config_scan.h \
	src/shared/config_url.c src/shared/config_url.h src/shared/config_schema.h \
	src/shared/config_store.c src/shared/config_system.c src/shared/config_system.h \
	src/shared/config_wire.c src/shared/config_wire.h \
	src/shared/log.c src/shared/log.h \
	src/shared/ratelimit.c src/shared/ratelimit.h \
	src/shared/log_libbpf.c src/shared/load_report.c src/shared/load_report.h

# top_srcdir reaches the tests through AM_TESTS_ENVIRONMENT (the sample config is read from it).
check_PROGRAMS += tests/unit/test_config tests/unit/test_config_wire tests/unit/test_log
TESTS += tests/unit/test_config tests/unit/test_config_wire tests/unit/test_log

KG_CONFIG_TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBCONFIG_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(LIBBPF_CFLAGS)
KG_CONFIG_TEST_LDADD = src/shared/libkgshared.a $(CHECK_LIBS) $(LIBCONFIG_LIBS) \
	$(LIBSYSTEMD_LIBS) $(LIBBPF_LIBS)

tests_unit_test_config_SOURCES = tests/unit/test_config.c
tests_unit_test_config_CPPFLAGS = $(AM_CPPFLAGS) -DKG_TOP_SRCDIR=\"$(abs_top_srcdir)\"
tests_unit_test_config_CFLAGS = $(KG_CONFIG_TEST_CFLAGS)
tests_unit_test_config_LDADD = $(KG_CONFIG_TEST_LDADD)

tests_unit_test_config_wire_SOURCES = tests/unit/test_config_wire.c
tests_unit_test_config_wire_CFLAGS = $(KG_CONFIG_TEST_CFLAGS)
tests_unit_test_config_wire_LDADD = $(KG_CONFIG_TEST_LDADD)

tests_unit_test_log_SOURCES = tests/unit/test_log.c
tests_unit_test_log_CFLAGS = $(KG_CONFIG_TEST_CFLAGS)
tests_unit_test_log_LDADD = $(KG_CONFIG_TEST_LDADD)

# Built and run by tests/fuzz/run.sh, shipped in the tarball.
EXTRA_DIST += tests/fuzz/fuzz_config.c tests/fuzz/corpus/config tests/fuzz/fuzz_config_wire.c \
	tests/fuzz/corpus/config_wire
