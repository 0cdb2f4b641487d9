/* Socket and address helpers shared by the service, client and ctl. */
#pragma once

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#define KG_ADDR_STR_MAX (INET6_ADDRSTRLEN + 8) /* "[addr]:port" */

/* Format a 16-byte (v4-mapped for IPv4) address as "a.b.c.d" or "[v6]", the form it takes
 * in a URL's host or a Host header. */
void kg_format_ip(const uint8_t ip[16], char *buf, size_t len);
/* Format a 16-byte (v4-mapped for IPv4) address and port as "a.b.c.d:port" or "[v6]:port". */
void kg_format_ip_port(const uint8_t ip[16], uint16_t port, char *buf, size_t len);
/* Same for a sockaddr (AF_INET/AF_INET6). */
void kg_format_sockaddr(const struct sockaddr *sa, char *buf, size_t len);
/* Fill a 16-byte v4-mapped address from an IPv4 address in network order. */
void kg_ip_from_v4(uint8_t ip[16], uint32_t addr_be);
int kg_ip_is_v4mapped(const uint8_t ip[16]);

/* A non-blocking listening TCP socket bound to addr:port (port 0: ephemeral), IPV6_V6ONLY for
 * AF_INET6. Returns the fd and stores the bound port, or -errno. */
int kg_listen_tcp(int family, const char *addr, uint16_t port, int backlog, uint16_t *ret_port);

/* The network namespace cookie of the calling thread (SO_NETNS_COOKIE). 0 or -errno. */
int kg_netns_cookie(uint64_t *ret);

/* Monotonic and realtime clocks in microseconds. */
uint64_t kg_now_usec(int clock_id);
