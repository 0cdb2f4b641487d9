/* Destination names from an application's first bytes, so the relay can CONNECT by name
 * (proxy domain ACLs and PAC host rules need it) instead of by the bare original IP.
 *
 * The relay reads the first flight into a bounded buffer and calls a sniffer after every read
 * with all bytes so far. A ClientHello may span several TLS records and several TCP segments
 * (post-quantum key shares make it ~2 KB), so the TLS sniffer reassembles handshake fragments;
 * the HTTP sniffer waits for the end of the header block. Neither does I/O or allocates.
 *
 * Results: 1 a name was found (host is filled), 0 there is definitely no name to find (not
 * this protocol, no SNI/Host, or nothing conclusive within KG_SNIFF_MAX bytes), -EAGAIN more
 * bytes are needed, -EBADMSG the protocol was recognised but the bytes are malformed,
 * -ENOSPC hostlen is too small (use KG_HOST_MAX). host is written only when 1 is returned.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "client/proto/authority.h"

#define KG_SNIFF_MAX (16 * 1024) /* input bytes considered; beyond that the sniffers give up */

/* SNI host_name of a TLS ClientHello, lower-cased, one trailing dot removed, validated as a
 * DNS name (letters, digits, hyphens, dots; labels 1..63; total <= 253). */
int kg_sniff_tls_sni(const uint8_t *buf, size_t len, char *host, size_t hostlen);

/* Host of an HTTP/1.x request: the absolute-form authority if the target has one, else the
 * Host field. host gets the name lower-cased, an IPv4 literal, or an IPv6 literal in
 * brackets ("[2001:db8::1]"); *port gets the explicit port, or 0 when none was given (the
 * caller knows the original destination port). Several Host fields give -EBADMSG. */
int kg_sniff_http_host(const uint8_t *buf, size_t len, char *host, size_t hostlen, uint16_t *port);
