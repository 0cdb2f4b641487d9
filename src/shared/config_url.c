/* URLs and CIDRs of the configuration (config.h declares the public kg_url_parse(),
 * kg_cidr_parse() and kg_cidr_format()), with the pieces config.c's validators share. Values
 * are checked for what the user has to change, so the parsers give reasons rather than codes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "shared/config.h"
#include "shared/config_url.h"

bool kg_config_has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static bool valid_hostname(const char *host)
{
	const char *p;

	if (!*host || *host == '.' || *host == '-' || strlen(host) > 253 || strstr(host, ".."))
		return false;
	for (p = host; *p; p++) {
		char c = *p;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

/* NULL on success, else the reason, which names what the user has to change. */
const char *kg_config_url_check(const char *url, struct kg_url *out)
{
	struct kg_url u = {0};
	const char *p, *host_end, *after_host;
	size_t authority_len, host_len;

	if (strnlen(url, KG_URL_MAX) >= KG_URL_MAX)
		return "URL too long";
	for (p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return "URL contains a space or a control character";
	if (strncasecmp(url, "http://", 7) == 0) {
		strcpy(u.scheme, "http");
		u.port = 80;
		p = url + 7;
	} else if (strncasecmp(url, "https://", 8) == 0) {
		strcpy(u.scheme, "https");
		u.port = 443;
		p = url + 8;
	} else {
		return "URL must start with http:// or https://";
	}
	if (strchr(p, '#'))
		return "URL must not have a #fragment";

	authority_len = strcspn(p, "/?");
	if (memchr(p, '@', authority_len))
		return "user@ in the URL is not supported (authentication uses Kerberos)";
	if (*p == '[') {
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr in6;

		host_end = memchr(p, ']', authority_len);
		if (!host_end)
			return "unterminated [ in the URL's IPv6 address";
		host_len = (size_t)(host_end - p - 1);
		if (host_len >= sizeof(addr))
			return "bad IPv6 address in the URL";
		memcpy(addr, p + 1, host_len);
		addr[host_len] = '\0';
		if (inet_pton(AF_INET6, addr, &in6) != 1)
			return "bad IPv6 address in the URL";
		memcpy(u.host, addr, host_len + 1);
		after_host = host_end + 1;
	} else {
		host_end = memchr(p, ':', authority_len);
		if (!host_end)
			host_end = p + authority_len;
		host_len = (size_t)(host_end - p);
		if (host_len >= sizeof(u.host))
			return "host name in the URL too long";
		memcpy(u.host, p, host_len);
		u.host[host_len] = '\0';
		if (!valid_hostname(u.host))
			return host_len ? "bad host name in the URL" : "URL has no host";
		after_host = host_end;
	}

	p += authority_len;
	if (after_host < p) {
		const char *d = after_host + 1;
		unsigned port = 0;

		if (*after_host != ':' || d == p || p - d > 5)
			return "URL port must be a number 1..65535";
		for (; d < p; d++) {
			if (*d < '0' || *d > '9')
				return "URL port must be a number 1..65535";
			port = port * 10 + (unsigned)(*d - '0');
		}
		if (port < 1 || port > 65535)
			return "URL port must be a number 1..65535";
		u.port = (uint16_t)port;
	}
	snprintf(u.path, sizeof(u.path), "%s%s", *p == '/' ? "" : "/", p);
	*out = u;
	return NULL;
}

int kg_url_parse(const char *url, struct kg_url *out)
{
	return kg_config_url_check(url, out) ? -EINVAL : 0;
}

/* Parses and zeroes the host bits, saying whether any were set, so that the strict parser and
 * the error message ("the network is 10.0.0.0/8") share one implementation. */
int kg_config_cidr_parse_canonical(const char *text, struct kg_cidr *out, bool *had_host_bits)
{
	struct kg_cidr c = {0};
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max_prefix, prefix, bit;

	if (addr_len == 0 || addr_len >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, addr_len);
	addr[addr_len] = '\0';
	if (inet_pton(AF_INET, addr, c.addr) == 1) {
		c.family = AF_INET;
		max_prefix = 32;
	} else if (inet_pton(AF_INET6, addr, c.addr) == 1) {
		c.family = AF_INET6;
		max_prefix = 128;
	} else {
		return -EINVAL;
	}

	prefix = max_prefix;
	if (slash) {
		const char *d = slash + 1;

		if (!*d || strlen(d) > 3)
			return -EINVAL;
		for (prefix = 0; *d; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			prefix = prefix * 10 + (unsigned)(*d - '0');
		}
		if (prefix > max_prefix)
			return -EINVAL;
	}
	c.prefix_len = (uint8_t)prefix;

	*had_host_bits = false;
	for (bit = prefix; bit < max_prefix; bit++) {
		uint8_t mask = (uint8_t)(0x80u >> (bit % 8));

		if (c.addr[bit / 8] & mask) {
			*had_host_bits = true;
			c.addr[bit / 8] &= (uint8_t)~mask;
		}
	}
	*out = c;
	return 0;
}

int kg_cidr_parse(const char *text, struct kg_cidr *out)
{
	struct kg_cidr c;
	bool had_host_bits;

	if (kg_config_cidr_parse_canonical(text, &c, &had_host_bits) < 0 || had_host_bits)
		return -EINVAL;
	*out = c;
	return 0;
}

int kg_cidr_format(const struct kg_cidr *cidr, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	int n;

	if (cidr->family != AF_INET && cidr->family != AF_INET6)
		return -EAFNOSUPPORT;
	if (!inet_ntop(cidr->family, cidr->addr, addr, sizeof(addr)))
		return -errno;
	n = snprintf(buf, len, "%s/%u", addr, cidr->prefix_len);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}
