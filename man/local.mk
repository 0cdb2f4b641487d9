# Hand-written roff pages, filled in at make time (paths follow configure's directories).
KG_MAN_PAGES = \
	man/kernelgatekeeper-service.8 \
	man/kernelgatekeeper-client.1 \
	man/kernelgatekeeper-ctl.1 \
	man/kernelgatekeeper.conf.5
# Generated from .in at build time, so the tarball carries only the sources.
nodist_man_MANS = $(KG_MAN_PAGES)
EXTRA_DIST += $(KG_MAN_PAGES:=.in)
CLEANFILES += $(KG_MAN_PAGES)

$(KG_MAN_PAGES): %: %.in Makefile
	$(kg_subst_gen)
