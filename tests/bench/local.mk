# Benchmarks: `make bench` (root). They print ratios against a baseline measured in the same
# run; they are not tests and never fail on a number. `make bench KG_BENCHES=tests/bench/X.sh`
# runs one of them.
EXTRA_PROGRAMS = tests/bench/connect-bench tests/bench/loop-dispatch tests/bench/ref-relay
# A bare splice relay, the yardstick for the relay's CPU per GiB (issue 15).
tests_bench_ref_relay_SOURCES = tests/bench/ref-relay.c
# A frame-delaying forwarder between two veths: the rig's LAN round trip (issue 15).
EXTRA_PROGRAMS += tests/bench/delay-stage
tests_bench_delay_stage_SOURCES = tests/bench/delay-stage.c
tests_bench_connect_bench_SOURCES = tests/bench/connect-bench.c
tests_bench_connect_bench_LDADD = -lpthread
# Sustained connect churn, paced, each connect timed; also the relay that registers with the
# service and the unsteered listener (issue 15).
EXTRA_PROGRAMS += tests/bench/connect-churn
tests_bench_connect_churn_SOURCES = tests/bench/connect-churn.c
tests_bench_connect_churn_LDADD = $(KG_SHARED_LIBS) -lm
# The event loop's cost per event: one epoll_wait per batch against sd-event's one source per
# iteration (issue 12).
tests_bench_loop_dispatch_SOURCES = tests/bench/loop-dispatch.c
tests_bench_loop_dispatch_CFLAGS = $(AM_CFLAGS) $(LIBSYSTEMD_CFLAGS)
tests_bench_loop_dispatch_LDADD = $(LIBSYSTEMD_LIBS)
CLEANFILES += tests/bench/connect-bench tests/bench/loop-dispatch tests/bench/ref-relay \
	tests/bench/delay-stage tests/bench/connect-churn
KG_BENCHES = tests/bench/connect-overhead.sh
# The relay against curl -x --proxy-negotiate through the same Squid (issue 3).
KG_BENCHES += tests/bench/client-bench.sh
KG_BENCHES += tests/bench/loop-dispatch.sh
# This build's service and relay against those of the commit before the refactor (issue 12):
# KG_BENCH_BASELINE names another commit.
KG_BENCHES += tests/bench/client-regress.sh
# The first-byte time a PAC route adds against the fixed proxy, same proxy, same run (issue 13).
KG_BENCHES += tests/bench/pac-route.sh
# The relay through an HTTPS proxy against curl --proxy https:// through the same Squid, and
# its CPU per GiB against the plain http proxy's (issue 14).
KG_BENCHES += tests/bench/https-proxy.sh
# 2,000 connects a second for 60 s, closed by the application first: steered (all into one
# relay 4-tuple space) against unsteered, connect() p50/p99 and failures (issue 15).
KG_BENCHES += tests/bench/connect-churn.sh
EXTRA_DIST += $(KG_BENCHES) tests/bench/client-idle-tunnels.py tests/bench/build-baseline.sh \
	tests/bench/bench-lib.sh tests/bench/table-lib.sh tests/lib/delayrig.sh

# A bench that cannot run here (exit 77: no root, no squid) is reported and skipped; any other
# non-zero status means something broke.
bench: tests/bench/connect-bench tests/bench/loop-dispatch tests/bench/ref-relay \
		tests/bench/delay-stage tests/bench/connect-churn tests/helpers/kg-probe \
		src/service/kernelgatekeeper-service src/client/kernelgatekeeper-client
	@table=$$(mktemp /tmp/kg-bench-table.XXXXXX) || exit 1; \
	trap 'rm -f "$$table"' EXIT; \
	for b in $(KG_BENCHES); do \
		echo "== $$b"; \
		rc=0; \
		KG_BENCH_TABLE=$$table top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
			bash $(srcdir)/$$b || rc=$$?; \
		if test $$rc = 77; then echo "== $$b: skipped"; elif test $$rc != 0; then exit 1; fi; \
	done; \
	echo "== summary (each figure with its 95 % interval where the bench has one)"; \
	. $(srcdir)/tests/bench/table-lib.sh && bench_table_print "$$table"
.PHONY: bench

# client-regress.sh's baseline builds, cached by commit (they survive make clean).
distclean-local:
	-rm -rf bench-baseline
# The relay against redsocks behind an nft redirect rule, through the same auth-free Squid port
# (issue 15); needs redsocks and nft, else skipped.
KG_BENCHES += tests/bench/redsocks-peer.sh
# A real browser's page load with QUIC refused at the socket (block_quic on) against chromium
# --disable-quic, and with block_quic off (issue 18 item 2); needs chromium and certutil.
KG_BENCHES += tests/bench/browser-quic.sh
EXTRA_DIST += tests/bench/browser-quic.sh
