# Protocol parsers of the client (sniffing, HTTP heads): pure functions over buffers, built as a
# library so the client, the unit tests and the fuzz targets link the same objects.
noinst_LIBRARIES += src/client/libkgclientparse.a
src_client_libkgclientparse_a_SOURCES = \
	src/client/ascii.h src/client/sniff.c src/client/sniff.h \
	src/client/http.h src/client/http_internal.h \
	src/client/http_head.c src/client/http_fields.c src/client/http_challenge.c \
	src/client/http_response.c src/client/http_request.c src/client/http_rewrite.c \
	src/client/chunked.c src/client/base64.c src/client/base64.h

check_PROGRAMS += tests/unit/test_sniff tests/unit/test_http
TESTS += tests/unit/test_sniff tests/unit/test_http

tests_unit_test_sniff_SOURCES = tests/unit/test_sniff.c
tests_unit_test_sniff_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_sniff_LDADD = src/client/libkgclientparse.a $(CHECK_LIBS)

tests_unit_test_http_SOURCES = tests/unit/test_http.c
tests_unit_test_http_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_unit_test_http_LDADD = src/client/libkgclientparse.a $(CHECK_LIBS)

# libFuzzer targets: built and run by tests/fuzz/run.sh (clang only), shipped in the tarball.
EXTRA_DIST += \
	tests/fuzz/run.sh \
	tests/fuzz/fuzz_sniff.c \
	tests/fuzz/fuzz_proxy_response.c \
	tests/fuzz/fuzz_request_head.c \
	tests/fuzz/corpus/sniff \
	tests/fuzz/corpus/proxy_response \
	tests/fuzz/corpus/request_head
