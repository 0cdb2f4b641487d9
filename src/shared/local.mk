# Code shared by the service, the client and the ctl tool.
noinst_LIBRARIES += src/shared/libkgshared.a
src_shared_libkgshared_a_SOURCES = \
	src/shared/ipc.c src/shared/ipc.h \
	src/shared/netutil.c src/shared/netutil.h \
	src/shared/ccname.c src/shared/ccname.h \
	src/shared/text.c src/shared/text.h \
	src/shared/macro.h
src_shared_libkgshared_a_CFLAGS = $(AM_CFLAGS) $(LIBCONFIG_CFLAGS) $(LIBSYSTEMD_CFLAGS) $(LIBBPF_CFLAGS)

KG_SHARED_LIBS = src/shared/libkgshared.a $(LIBCONFIG_LIBS) $(LIBSYSTEMD_LIBS)

include $(srcdir)/src/shared/config.mk
