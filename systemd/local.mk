# systemd units, filled in at make time so `make prefix=...` stays consistent. The preset files
# are installed by the RPM spec only (distribution policy decides what is enabled).
systemdsystemunit_DATA += systemd/kernelgatekeeper.service
systemduserunit_DATA += systemd/kernelgatekeeper-client.service
EXTRA_DIST += \
	systemd/kernelgatekeeper.service.in \
	systemd/kernelgatekeeper-client.service.in \
	systemd/kernelgatekeeper.preset \
	systemd/kernelgatekeeper-user.preset
CLEANFILES += systemd/kernelgatekeeper.service systemd/kernelgatekeeper-client.service

systemd/%.service: systemd/%.service.in Makefile
	$(kg_subst_gen)
