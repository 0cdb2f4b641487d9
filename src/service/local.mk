# kernelgatekeeper-service: the root daemon.
sbin_PROGRAMS += src/service/kernelgatekeeper-service
src_service_kernelgatekeeper_service_SOURCES = \
	src/service/main.c src/service/service.c src/service/service.h \
	src/service/ipc_server.c src/service/ipc_server_priv.h src/service/ipc_watch.c src/service/events.c \
	src/service/datapath.c src/service/datapath.h \
	src/service/cgroup.c src/service/cgroup.h
nodist_src_service_kernelgatekeeper_service_SOURCES = $(BPF_SKELS)
src_service_kernelgatekeeper_service_CFLAGS = $(AM_CFLAGS) $(LIBBPF_CFLAGS) $(LIBSYSTEMD_CFLAGS) \
	$(LIBCONFIG_CFLAGS)
src_service_kernelgatekeeper_service_LDADD = $(KG_SHARED_LIBS) $(LIBBPF_LIBS) $(LIBELF_LIBS) \
	$(ZLIB_LIBS)
# The skeleton is generated; make sure it exists before the file that includes it compiles.
src/service/kernelgatekeeper_service-datapath.$(OBJEXT): $(BPF_SKELS)
