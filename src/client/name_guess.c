/* The name a user's TLS connections to an address carried lately (see name_guess.h). */
#include <stdio.h>
#include <string.h>

#include "client/name_guess.h"
#include "client/proto/authority.h"

struct slot {
	uint8_t ip[16];
	uint16_t port;
	uint8_t streak; /* connections in a row that named host; 0: the slot is empty */
	uint64_t at;	/* the last of them (monotonic usec) */
	char host[KG_HOST_MAX];
};

static struct slot slots[NAME_GUESS_SLOTS];
static struct name_guess_stats stats;

static struct slot *slot_of(const uint8_t ip[16], uint16_t port)
{
	uint32_t h = 2166136261u; /* FNV-1a over the address and the port */
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ ip[i]) * 16777619u;
	h = (h ^ (port >> 8)) * 16777619u;
	h = (h ^ (port & 0xff)) * 16777619u;
	return &slots[h % NAME_GUESS_SLOTS];
}

static int same_address(const struct slot *s, const uint8_t ip[16], uint16_t port)
{
	return s->streak && s->port == port && memcmp(s->ip, ip, 16) == 0;
}

int name_guess_get(const uint8_t ip[16], uint16_t port, uint64_t now, char *buf, size_t len)
{
	const struct slot *s = slot_of(ip, port);

	if (!same_address(s, ip, port) || s->streak < NAME_GUESS_STREAK || !s->host[0] ||
	    now - s->at > NAME_GUESS_TTL_SEC * 1000000ull || len == 0)
		return 0;
	if ((size_t)snprintf(buf, len, "%s", s->host) >= len)
		return 0;
	stats.offered++;
	return 1;
}

void name_guess_note(const uint8_t ip[16], uint16_t port, const char *host, uint64_t now)
{
	struct slot *s = slot_of(ip, port);

	if (same_address(s, ip, port) && strcmp(s->host, host) == 0 &&
	    now - s->at <= NAME_GUESS_TTL_SEC * 1000000ull) {
		if (s->streak < UINT8_MAX)
			s->streak++;
	} else {
		memcpy(s->ip, ip, 16);
		s->port = port;
		s->streak = 1;
		snprintf(s->host, sizeof(s->host), "%s", host);
	}
	s->at = now;
}

void name_guess_outcome(int right)
{
	if (right)
		stats.right++;
	else
		stats.wrong++;
}

const struct name_guess_stats *name_guess_stats(void)
{
	return &stats;
}

void name_guess_clear(void)
{
	memset(slots, 0, sizeof(slots));
	memset(&stats, 0, sizeof(stats));
}
