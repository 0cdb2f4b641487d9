# kernelgatekeeper-ctl: status and control for administrators and users.
bin_PROGRAMS += src/ctl/kernelgatekeeper-ctl
src_ctl_kernelgatekeeper_ctl_SOURCES = src/ctl/ctl.c
src_ctl_kernelgatekeeper_ctl_LDADD = $(KG_SHARED_LIBS)
