/* Failover bookkeeping: which proxies failed recently, and which entry of a route a
 * connection tries next. The policy is in failover.h; here a small fixed table of marks,
 * searched linearly (it holds at most KG_FAILOVER_SLOTS entries).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "client/route/failover.h"

void kg_failover_init(struct kg_failover *f)
{
	memset(f, 0, sizeof(*f));
}

static bool same(const struct kg_failover_mark *m, const struct kg_route_entry *e)
{
	return m->host[0] && m->port == e->port && strcmp(m->host, e->host) == 0;
}

static const struct kg_failover_mark *find(const struct kg_failover *f,
					   const struct kg_route_entry *e)
{
	if (e->kind == KG_ROUTE_DIRECT)
		return NULL;
	for (size_t i = 0; i < KG_FAILOVER_SLOTS; i++)
		if (same(&f->mark[i], e))
			return &f->mark[i];
	return NULL;
}

bool kg_failover_is_down(const struct kg_failover *f, const struct kg_route_entry *e, uint64_t now)
{
	const struct kg_failover_mark *m = find(f, e);

	return m && now < m->until;
}

bool kg_failover_down_since(const struct kg_failover *f, const struct kg_route_entry *e,
			    uint64_t now, uint64_t *since)
{
	const struct kg_failover_mark *m = find(f, e);

	if (!m || now >= m->until)
		return false;
	*since = m->since;
	return true;
}

int kg_failover_next(const struct kg_failover *f, const struct kg_route *r,
		     struct kg_failover_try *t, uint64_t now, size_t *index)
{
	size_t n = r->n < KG_ROUTE_MAX ? r->n : KG_ROUTE_MAX;

	/* First pass: entries not down; second pass: the rest, in order. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			if (t->tried & (1U << i))
				continue;
			if (pass == 0 && kg_failover_is_down(f, &r->e[i], now))
				continue;
			t->tried |= 1U << i;
			*index = i;
			return 0;
		}
	return -ENOENT;
}

int kg_failover_pick(const struct kg_failover *f, const struct kg_route *r, uint64_t now,
		     size_t *index)
{
	struct kg_failover_try t = KG_FAILOVER_TRY_INIT;

	return kg_failover_next(f, r, &t, now, index);
}

void kg_failover_mark_down(struct kg_failover *f, const struct kg_route_entry *e, uint64_t now)
{
	struct kg_failover_mark *m = (struct kg_failover_mark *)find(f, e);
	uint64_t until = now + KG_FAILOVER_HOLD_USEC;

	if (e->kind == KG_ROUTE_DIRECT || !e->host[0])
		return;
	if (until < now) /* a clock near its end: saturate */
		until = UINT64_MAX;
	if (m) {
		/* A failure while still down (retried because all were down) continues the run;
		 * after the mark expired, a new run starts. */
		if (now >= m->until)
			m->since = now;
		m->until = until;
		return;
	}
	/* A free slot, else an expired one, else the one that expires first. */
	for (size_t i = 0; i < KG_FAILOVER_SLOTS; i++) {
		struct kg_failover_mark *c = &f->mark[i];

		if (!c->host[0]) {
			m = c;
			break;
		}
		if (!m || (now >= c->until && now < m->until) ||
		    ((now >= c->until) == (now >= m->until) && c->until < m->until))
			m = c;
	}
	memset(m, 0, sizeof(*m));
	memcpy(m->host, e->host, sizeof(m->host));
	m->host[sizeof(m->host) - 1] = '\0';
	m->port = e->port;
	m->since = now;
	m->until = until;
}

void kg_failover_mark_up(struct kg_failover *f, const struct kg_route_entry *e)
{
	struct kg_failover_mark *m = (struct kg_failover_mark *)find(f, e);

	if (m)
		memset(m, 0, sizeof(*m));
}

/* Appends text at *o; false when it does not fit (nothing written past len). */
static bool append(char *buf, size_t len, size_t *o, const char *text)
{
	size_t n = strlen(text);

	if (*o + n + 1 > len)
		return false;
	memcpy(buf + *o, text, n + 1);
	*o += n;
	return true;
}

static int truncated(char *buf, size_t len, size_t o)
{
	/* Keep what fits and end with "..." so the reader sees the cut. */
	if (len >= 4) {
		if (o > len - 4)
			o = len - 4;
		memcpy(buf + o, "...", 4);
	} else if (len) {
		buf[0] = '\0';
	}
	return -ENOSPC;
}

int kg_failover_describe(const struct kg_failover *f, const struct kg_route *r, size_t index,
			 uint64_t now, char *buf, size_t len)
{
	char a[KG_ROUTE_ENTRY_TEXT_MAX];
	size_t o = 0, down = 0;
	const struct kg_route_entry *e;

	if (len)
		buf[0] = '\0';
	if (index >= r->n || index >= KG_ROUTE_MAX)
		return -EINVAL;
	if (len == 0)
		return -ENOSPC;
	e = &r->e[index];
	if (e->kind == KG_ROUTE_DIRECT) {
		if (!append(buf, len, &o, "direct"))
			return truncated(buf, len, o);
	} else {
		kg_route_entry_authority(e, a, sizeof(a));
		if (!append(buf, len, &o, e->kind == KG_ROUTE_HTTPS ? "via https " : "via ") ||
		    !append(buf, len, &o, a))
			return truncated(buf, len, o);
	}
	for (size_t i = 0; i < r->n && i < KG_ROUTE_MAX; i++) {
		if (i == index || !kg_failover_is_down(f, &r->e[i], now))
			continue;
		/* The same proxy twice in a route is named once. */
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = j != index && kg_route_entry_equal(&r->e[j], &r->e[i]);
		if (seen || kg_route_entry_equal(&r->e[i], e))
			continue;
		kg_route_entry_authority(&r->e[i], a, sizeof(a));
		if (!append(buf, len, &o, down++ ? ", " : " (") || !append(buf, len, &o, a))
			return truncated(buf, len, o);
	}
	if (down && !append(buf, len, &o, " down)"))
		return truncated(buf, len, o);
	return (int)o;
}
