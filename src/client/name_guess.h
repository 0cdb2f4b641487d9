/* The name a user's TLS connections to an address carried lately (their ClientHello's
 * server_name), so that tunnel.c can send a new connection's CONNECT before its ClientHello
 * arrives: the proxy's round trip then overlaps the application's own TLS set-up instead of
 * following it. A guess is offered only for an address whose last NAME_GUESS_STREAK connections
 * all named the same host within NAME_GUESS_TTL_SEC; tunnel.c checks every guess against the
 * ClientHello before a byte crosses, and a wrong guess costs one discarded tunnel and resets the
 * streak. The table is the client's (one user's), fixed in size: an address's slot is shared by
 * hash, the newer address taking it.
 */
#ifndef KG_CLIENT_NAME_GUESS_H
#define KG_CLIENT_NAME_GUESS_H

#include <stddef.h>
#include <stdint.h>

#define NAME_GUESS_SLOTS   256
#define NAME_GUESS_TTL_SEC 300
#define NAME_GUESS_STREAK  2

struct name_guess_stats {
	uint64_t offered; /* guesses handed out */
	uint64_t right;	  /* confirmed by the ClientHello */
	uint64_t wrong;	  /* another name, none, or no ClientHello in time */
};

/* The name to try for ip (v4-mapped) : port at now (monotonic usec), copied into buf: 1 when
 * there is one, else 0 (buf untouched). */
int name_guess_get(const uint8_t ip[16], uint16_t port, uint64_t now, char *buf, size_t len);
/* A connection to ip:port named host ("" when its first bytes named none). */
void name_guess_note(const uint8_t ip[16], uint16_t port, const char *host, uint64_t now);
/* A guess for ip:port turned out right or wrong (counts; a wrong one also resets the streak:
 * call name_guess_note() with what the connection really named). */
void name_guess_outcome(int right);
const struct name_guess_stats *name_guess_stats(void);
/* Forget every address (and the counters): for tests. */
void name_guess_clear(void);

#endif
