# Distribution packaging: the RPM spec, `make deb`, `make rpm` and the package tests.
# Included from the top Makefile.am; debian/ and the spec travel in the tarball, so both
# packages are built from `make dist` output exactly as a distribution would.

# The recipe every generated text file shares (units, man pages, spec): one sed, written
# through a temporary file so an interrupted run never leaves a truncated output.
kg_subst_gen = $(AM_V_GEN)$(MKDIR_P) $(@D) && $(do_subst) <$< >$@.tmp && mv $@.tmp $@

kernelgatekeeper.spec: kernelgatekeeper.spec.in Makefile
	$(kg_subst_gen)

KG_DEBIAN_FILES = \
	debian/changelog debian/control debian/copyright debian/rules debian/source/format \
	debian/kernelgatekeeper.config debian/kernelgatekeeper.docs \
	debian/kernelgatekeeper.lintian-overrides \
	debian/kernelgatekeeper.postinst debian/kernelgatekeeper.postrm debian/kernelgatekeeper.prerm \
	debian/kernelgatekeeper.templates debian/po/POTFILES.in debian/po/templates.pot
KG_PACKAGE_TESTS = \
	tests/package/nspawn-rig.sh tests/package/nspawn-deb.sh tests/package/negotiate-inside.sh \
	tests/package/system-inside.sh \
	tests/package/rpm.sh \
	tests/package/rpm-fallback.macros tests/package/kernelgatekeeper.rpmlintrc
# The generated spec is shipped too, so that `rpmbuild -ta kernelgatekeeper-VERSION.tar.gz`
# works on the tarball alone.
EXTRA_DIST += kernelgatekeeper.spec.in kernelgatekeeper.spec $(KG_DEBIAN_FILES) $(KG_PACKAGE_TESTS)
CLEANFILES += kernelgatekeeper.spec

# make deb [DEB_BUILD_OPTIONS=nocheck]: binary .deb from the dist tarball, in debbuild/.
deb: dist-gzip
	rm -rf debbuild && $(MKDIR_P) debbuild
	cp $(distdir).tar.gz debbuild/$(PACKAGE)_$(VERSION).orig.tar.gz
	tar -C debbuild -xzf $(distdir).tar.gz
	cd debbuild/$(distdir) && dpkg-buildpackage -us -uc -b
	@ls debbuild/*.deb

# make rpm [RPMBUILD_FLAGS="--nodeps --nocheck"]: binary RPM from the dist tarball, in
# rpmbuild/RPMS/. Hosts without systemd-rpm-macros (Debian) get the stand-ins.
RPMBUILD_FLAGS =
rpm: dist-gzip
	rm -rf rpmbuild && $(MKDIR_P) rpmbuild
	macros=; test -n "$$(rpm --eval '%{?_userunitdir}')" || \
		macros="--load=$(abs_srcdir)/tests/package/rpm-fallback.macros"; \
	rpmbuild --define "_topdir $(abs_builddir)/rpmbuild" $$macros $(RPMBUILD_FLAGS) \
		-tb $(distdir).tar.gz
	@find rpmbuild/RPMS -name '*.rpm'

# make check-package: only the package tests (they are part of make check as well).
check-package:
	$(MAKE) $(AM_MAKEFLAGS) check TESTS='tests/package/nspawn-deb.sh tests/package/rpm.sh'

clean-local:
	rm -rf debbuild rpmbuild

.PHONY: deb rpm check-package
