// fuzz-sources: src/client/proxy_tls.c src/client/proxy_tls_ctx.c src/shared/text.c
// fuzz-libs: -lssl -lcrypto
// fuzz-cflags: -D_GNU_SOURCE
/* libFuzzer target for the client's side of TLS to an HTTPS proxy (src/client/proxy_tls.c): what
 * the proxy answers to our ClientHello, and the sentences made of it. The record and handshake
 * parsing is OpenSSL's; ours is what looks at the proxy's bytes and certificates to explain a
 * failure: the message callback (a clear-text answer on the TLS port), clear_text_line(), the
 * verify callback's sentence (the certificate's issuer, names and dates) and handshake_failure().
 *
 * Input: byte 0 bit 0 picks the proxy's name, "proxy.example" or the address 192.0.2.8; the rest
 * is every byte the proxy sends, then it ends its side (shutdown SHUT_WR) and reads nothing. The
 * context trusts one test CA (below, the public half only): the seeds are TLS 1.2 first flights
 * (ServerHello, Certificate, ...) with a certificate of that CA for another name, so mutations
 * of its names and dates reach the sentences of a trusted chain, and one of an unknown CA.
 *
 * Invariants: the handshake fails (no key of a trusted certificate signs anything here) after a
 * bounded number of steps, never waiting; the failure has a sentence; the sentence and its detail
 * are printable text (src/shared/text.h), however hostile the certificate or clear text.
 */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/proxy_tls.h"
#include "shared/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The test CA of the seeds (an EC P-256 key, valid until 2126); its key was not kept. */
static const char test_ca[] = "-----BEGIN CERTIFICATE-----\n"
			      "MIIBwzCCAWmgAwIBAgIUCMQl//L4PTRSHtyyzYlERe7FQ7gwCgYIKoZIzj0EAwIw\n"
			      "NjETMBEGA1UEAwwKS0cgRnV6eiBDQTEfMB0GA1UECgwWS2VybmVsR2F0ZWtlZXBl\n"
			      "ciB0ZXN0czAgFw0yNjEyMDcxNjQ3NDJaGA8yMTI2MTExMzE2NDc0MlowNjETMBEG\n"
			      "A1UEAwwKS0cgRnV6eiBDQTEfMB0GA1UECgwWS2VybmVsR2F0ZWtlZXBlciB0ZXN0\n"
			      "czBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABFe+KYocWQmPERZOeYIevYG13YeM\n"
			      "oHuAYDflFG1+gzZeyh2wTI1S2wduzJZCY0qTFfB4Gqp0fjwhH2onV+7a8t2jUzBR\n"
			      "MB0GA1UdDgQWBBRYXvei7BQhejNCgL53MG4NpFB5bjAfBgNVHSMEGDAWgBRYXvei\n"
			      "7BQhejNCgL53MG4NpFB5bjAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA\n"
			      "MEUCIQDgFLJ9Om39rJAs/yLOPSyHQwTf/Of3ruzpyv/njK8jGgIgP3UGGm4c/QMt\n"
			      "2wME4zyKFXLai03GylT6JgOdQE87JEw=\n"
			      "-----END CERTIFICATE-----\n";

static struct proxy_tls_ctx *ctx;
static char ca_path[64];

static void remove_ca(void)
{
	proxy_tls_ctx_unref(ctx);
	unlink(ca_path);
}

/* Once: the context, as the client makes it for proxy.ca_file (read once, at creation). */
static void setup_once(void)
{
	struct proxy_tls_opts o = {0};
	char err[PROXY_TLS_ERROR_MAX];
	FILE *f;
	int fd;

	if (ctx)
		return;
	snprintf(ca_path, sizeof(ca_path), "%s", "/tmp/kg-fuzz-ca.XXXXXX");
	fd = mkstemp(ca_path);
	assert(fd >= 0);
	f = fdopen(fd, "w");
	assert(f && fputs(test_ca, f) >= 0 && fclose(f) == 0);
	o.ca_file = ca_path;
	if (proxy_tls_ctx_new(&o, &ctx, err, sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		abort();
	}
	atexit(remove_ca);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[PROXY_TLS_ERROR_MAX];
	struct proxy_tls *t;
	enum proxy_tls_status st = PROXY_TLS_WANT_WRITE;
	int sv[2];
	size_t off;
	ssize_t n;
	int steps;

	if (size < 1 || size > 65536)
		return 0;
	setup_once();
	assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
	/* The proxy's bytes, all there before the first step (a Unix socket's buffer holds 64 KiB).
	 */
	for (off = 1; off < size; off += (size_t)n) {
		n = send(sv[1], data + off, size - off, MSG_NOSIGNAL);
		assert(n > 0);
	}
	assert(shutdown(sv[1], SHUT_WR) == 0);

	t = proxy_tls_new(ctx, sv[0], data[0] & 1 ? "192.0.2.8" : "proxy.example", 3129, err,
			  sizeof(err));
	assert(t);
	for (steps = 0; steps < 16; steps++) {
		st = proxy_tls_handshake(t);
		if (st != PROXY_TLS_WANT_READ && st != PROXY_TLS_WANT_WRITE)
			break;
	}
	assert(st == PROXY_TLS_ERROR);
	assert(proxy_tls_error(t)[0]);
	if (!kg_text_printable(proxy_tls_error(t)) || !kg_text_printable(proxy_tls_detail(t))) {
		fprintf(stderr, "not printable: \"%s\" (%s)\n", proxy_tls_error(t),
			proxy_tls_detail(t));
		abort();
	}
	proxy_tls_free(t);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
