/* A rig for driving the client's set-up tables (tunnel.c, forward.c) through the real event core
 * (loop, pump, conn): the application is one end of a socketpair handed to relay_conn_open(),
 * the proxy a scripted peer accepted from a 127.0.0.1 listener, and the loop runs in bounded
 * passes until what the test waits for arrives or a deadline passes.
 *
 * An https proxy (issue 14) is the same scripted peer behind a TLS terminator: a forked child
 * with a blocking OpenSSL server on its own 127.0.0.1 port, which verifies nothing but shows
 * the certificate it was given (made at run time by tests/lib/tlscerts.sh), and carries each
 * connection's clear text to and from a plain connection to the rig's listener, where the
 * test accepts it as usual (close_notify <-> FIN both ways). It reports per connection whether
 * the handshake worked and whether "Proxy-Authorization" ever crossed the wire in clear, once
 * the connection is over.
 *
 * Only the Kerberos worker (authq_submit & co.) and the token source (negotiate_step) are fakes,
 * defined in fake_proxy.c: the Kerberos exchange itself is test_negotiate's and the integration
 * tests'. Finished jobs reach their connections from the loop's pass hook, as the worker's
 * eventfd would deliver them.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/client.h"
#include "client/conn.h"

/* How the fake worker answers token jobs. */
enum rig_auth_mode {
	RIG_AUTH_AUTO,	 /* every job gets "tokN" (N counts jobs from 1) at the next pass */
	RIG_AUTH_FAIL,	 /* every job fails with NEGOTIATE_ERR_NO_TICKET at the next pass */
	RIG_AUTH_MANUAL, /* jobs wait for rig_auth_deliver() */
};

struct rig {
	struct kg_client cl;
	struct client_settings *set; /* cl.set; the rig holds one reference */
	int lfd;		     /* the fake proxy's listener */
	uint16_t lport;
	char log_path[64]; /* the journal capture (unlinked at once) */
	int log_fd;	   /* and the test's way to read it */
	/* the fake Kerberos worker */
	enum rig_auth_mode auth_mode;
	unsigned jobs_submitted, jobs_cancelled, jobs_freed;
};

extern struct rig rig;

/* Loop, listener, settings for proxy.type http at the listener (or none), journal capture;
 * way_out is the table new connections start with. */
void rig_setup(enum kg_proxy_type type, const struct conn_ops *way_out);
void rig_teardown(void);
/* New settings (one reference) with the proxy at port, made current; the old are dropped. */
struct client_settings *rig_settings(enum kg_proxy_type type, uint16_t port);

/* A steered connection to 127.0.0.1:dst_port whose application already sent first (may be
 * NULL); the test's end of the application's socket (non-blocking). */
int rig_open(uint16_t dst_port, const void *first, size_t first_len);
/* The fake proxy accepts the next connection (the loop runs meanwhile); its fd, non-blocking. */
int rig_accept(void);
/* Whether a connection waits on the listener right now (without taking it). */
bool rig_connection_pending(void);

/* Loop passes until cond(arg) holds or ms pass; whether it holds. */
bool rig_run_until(bool (*cond)(void *arg), void *arg, int ms);
/* A condition for rig_run_until(): no connection is left (arg unused). */
bool rig_no_conns(void *arg);
/* Loop passes for about ms. */
void rig_run_for(int ms);

void rig_send(int fd, const void *p, size_t n);
/* A TLS ClientHello naming host (server_name extension), as a browser sends it, into out;
 * its length. */
size_t rig_client_hello(const char *host, uint8_t *out, size_t cap);
void rig_send_str(int fd, const char *s);
/* Read exactly strlen(want) bytes (the loop runs meanwhile) and compare. */
void rig_expect(int fd, const char *want);
/* Read exactly n bytes and compare. */
void rig_expect_bytes(int fd, const void *want, size_t n);
/* Read up to and including the first "\r\n\r\n" into buf (NUL-terminated). */
void rig_read_head(int fd, char *buf, size_t cap);
/* Read until the peer closes into buf (NUL-terminated); the byte count. */
size_t rig_read_to_eof(int fd, char *buf, size_t cap);
/* Whether fd saw its peer close (EOF) within ms, nothing else arriving meanwhile. */
bool rig_eof_within(int fd, int ms);

/* Finish every job the fake worker holds as the mode says (MANUAL: with a token). */
void rig_auth_deliver(void);
unsigned rig_auth_pending(void);

/* Whether the journal capture holds s. */
bool rig_log_has(const char *s);

/* The test certificates (tests/lib/tlscerts.sh) in a temporary directory: made once by the
 * test's main() before the tests run (exit 99 when the openssl CLI fails), removed after. */
void rig_tls_certs_make(void);
void rig_tls_certs_remove(void);
/* An https proxy showing the certificate NAME.pem of tlscerts.sh ("ip": 127.0.0.1, by the
 * test CA; "untrusted", "expired", "wrong": not acceptable); its port. At most 4 per test. */
uint16_t rig_tls_proxy(const char *name);
/* The same, asking for a client certificate of the test CA and refusing the connection without
 * one (mTLS). */
uint16_t rig_tls_proxy_mtls(const char *name);
/* Written alone by the test on a terminated connection, it makes the terminator reset the
 * TLS connection (no close_notify). */
#define RIG_TLS_RESET	  "\x01RESET-TLS\x01"
#define RIG_TLS_RESET_LEN 11
/* The path of tlscerts.sh's file name ("client.pem", "client.key", "ca.pem"). */
const char *rig_tls_file(const char *name);
/* New settings (made current) for proxy.type https at 127.0.0.1:port, proxy.ca_file the test
 * CA. */
struct client_settings *rig_tls_settings(uint16_t port);
/* What the terminators reported once conns connections ended (or RIG_WAIT_MS passed, the
 * loop running): handshakes done and failed, and whether a "Proxy-Authorization" was ever seen
 * on the wire in clear. */
struct rig_tls_report {
	unsigned ok, failed;
	bool clear_token;
};
struct rig_tls_report rig_tls_reports(unsigned conns);

/* A socket bound on 127.0.0.1 that does not listen: connects to *port are refused until the
 * caller listen()s on it. Returns the fd (the caller closes it). */
int fake_refusing_port(uint16_t *port);
