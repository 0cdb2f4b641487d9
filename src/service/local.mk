# kernelgatekeeper-service: the root daemon.
sbin_PROGRAMS += src/service/kernelgatekeeper-service
src_service_kernelgatekeeper_service_SOURCES = \
	src/service/main.c src/service/service.c src/service/service.h \
	src/service/ipc_server.c src/service/ipc_server_priv.h src/service/ipc_handlers.c \
	src/service/ipc_watch.c src/service/events.c \
	src/service/datapath.c src/service/datapath.h \
	src/service/cgroup.c src/service/cgroup.h \
	src/service/system_relay.c src/service/system_relay.h
nodist_src_service_kernelgatekeeper_service_SOURCES = $(BPF_SKELS)
src_service_kernelgatekeeper_service_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(LIBCONFIG_CFLAGS)
src_service_kernelgatekeeper_service_LDADD = $(KG_SHARED_LIBS) $(LIBBPF_LIBS) $(LIBELF_LIBS) \
	$(ZLIB_LIBS)
# The skeleton is generated; make sure it exists before the file that includes it compiles.
src/service/kernelgatekeeper_service-datapath.$(OBJEXT): $(BPF_SKELS)

# The system relay's registration rules (issue 17).
check_PROGRAMS += tests/unit/test_system_relay
TESTS += tests/unit/test_system_relay
tests_unit_test_system_relay_SOURCES = tests/unit/test_system_relay.c src/service/system_relay.c \
	src/service/system_relay.h
tests_unit_test_system_relay_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(LIBCONFIG_CFLAGS) \
	$(LIBBPF_CFLAGS)
tests_unit_test_system_relay_LDADD = $(KG_SHARED_LIBS) $(CHECK_LIBS)
