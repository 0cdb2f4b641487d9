# placeholder: filled by its owner
include $(srcdir)/src/client/parsers.mk
include $(srcdir)/src/client/negotiate.mk
