# systemd units, filled in at make time so `make prefix=...` stays consistent. The preset files
# and the sysusers.d file are installed by the packages only (distribution policy decides what
# is enabled and how system accounts are made).
systemdsystemunit_DATA += \
	systemd/kernelgatekeeper.service \
	systemd/kernelgatekeeper-system-client.service
systemduserunit_DATA += systemd/kernelgatekeeper-client.service
EXTRA_DIST += \
	systemd/kernelgatekeeper.service.in \
	systemd/kernelgatekeeper-client.service.in \
	systemd/kernelgatekeeper-system-client.service.in \
	systemd/kernelgatekeeper.preset \
	systemd/kernelgatekeeper-user.preset \
	systemd/kernelgatekeeper.sysusers.conf
CLEANFILES += \
	systemd/kernelgatekeeper.service \
	systemd/kernelgatekeeper-client.service \
	systemd/kernelgatekeeper-system-client.service

systemd/%.service: systemd/%.service.in Makefile
	$(kg_subst_gen)
