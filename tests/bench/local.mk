# Benchmarks: `make bench` (root). They print ratios against a baseline measured in the same
# run; they are not tests and never fail on a number.
EXTRA_PROGRAMS = tests/bench/connect-bench
tests_bench_connect_bench_SOURCES = tests/bench/connect-bench.c
tests_bench_connect_bench_LDADD = -lpthread
CLEANFILES += tests/bench/connect-bench
KG_BENCHES = tests/bench/connect-overhead.sh
EXTRA_DIST += $(KG_BENCHES)

bench: tests/bench/connect-bench tests/helpers/kg-probe src/service/kernelgatekeeper-service
	@for b in $(KG_BENCHES); do \
		echo "== $$b"; \
		top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
			$(SHELL) $(srcdir)/$$b || exit 1; \
	done
.PHONY: bench
