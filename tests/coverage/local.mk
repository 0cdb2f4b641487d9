# `make coverage` (a tree configured with --enable-coverage, as root): reset the gcov counters,
# run the unit tests and the integration tests of the client and the service, and print line
# coverage per file of src/client/, src/shared/ and src/service/ (also coverage/summary.txt;
# HTML in coverage/html). It fails only when a test fails; the files of src/client/ below
# COVERAGE_MIN % are named on its last line. `make coverage-check` fails on them (it runs
# `make coverage` first when there is no report yet).
COVERAGE_MIN = 80
# The unit tests, then the client's end-to-end tests; the service's cost a few minutes more.
KG_COVERAGE_TESTS = $(filter tests/unit/test_%,$(TESTS)) $(CLIENT_TESTS) \
	tests/integration/service-operations.sh tests/integration/datapath-steering.sh \
	tests/integration/datapath-security.sh tests/integration/security-adversary.sh
KG_COVERAGE_SH = top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
	LCOV='$(LCOV)' GENHTML='$(GENHTML)' bash $(abs_top_srcdir)/tests/coverage/coverage.sh
EXTRA_DIST += tests/coverage/coverage.sh

if KG_COVERAGE
coverage: all
	@$(KG_COVERAGE_SH) reset
	@rc=0; $(MAKE) $(AM_MAKEFLAGS) check TESTS='$(KG_COVERAGE_TESTS)' || rc=$$?; \
		$(KG_COVERAGE_SH) report '$(COVERAGE_MIN)' || exit $$?; \
		if test $$rc != 0; then echo "coverage: some tests failed (see their .log files)"; fi; \
		exit $$rc
coverage-check:
	@test -f coverage/files.txt || $(MAKE) $(AM_MAKEFLAGS) coverage
	@$(KG_COVERAGE_SH) check '$(COVERAGE_MIN)'
else
coverage coverage-check:
	@echo "$@: configure with --enable-coverage (and install lcov) first" >&2; exit 1
endif
.PHONY: coverage coverage-check

# The counters and the notes go with the objects.
mostlyclean-local:
	-rm -rf coverage
	-find src tests -name '*.gc[dn][ao]' -delete 2>/dev/null
