# Protocol parsers of the client (sniffing, HTTP heads): pure functions over buffers, built as a
# library so the client, the unit tests and the fuzz targets link the same objects.
noinst_LIBRARIES += src/client/libkgclientparse.a
src_client_libkgclientparse_a_SOURCES = \
	src/shared/ascii.h src/client/proto/sniff.c src/client/proto/sniff.h \
	src/client/proto/authority.c src/client/proto/authority.h \
	src/client/proto/http.h src/client/proto/http_internal.h \
	src/client/proto/http_head.c src/client/proto/http_fields.c src/client/proto/http_challenge.c \
	src/client/proto/http_response.c src/client/proto/http_request.c src/client/proto/http_rewrite.c \
	src/client/proto/http_chunked.c src/client/proto/base64.c src/client/proto/base64.h

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
