/* Host names and authorities, checked and normalised (authority.c). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define KG_HOST_MAX 256 /* a DNS name (253) or "[IPv6]" plus NUL */

/* Parses an authority "host[:port]" as found in Host or a URI (no userinfo). Same output as
 * kg_sniff_http_host; *port = 0 when there is no port. 0, -EBADMSG, or -ENOSPC. */
int kg_authority_parse(const char *s, size_t len, char *host, size_t hostlen, uint16_t *port);
/* A DNS name (LDH labels of 1..63, <= 253 in all, one trailing dot dropped), lower-cased into
 * out; a name whose last label is all digits is refused (an IPv4 literal is the caller's). */
int kg_dns_name_normalize(const uint8_t *in, size_t len, char *out, size_t outlen);
