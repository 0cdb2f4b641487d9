/* The PAC evaluator's wire protocol: encoder and bounded parser (see pac_proto.h for the
 * format). The encoder checks every rule the parser checks, so a frame one side writes is a
 * frame the other side accepts.
 */
#include "shared/pac_proto.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

/* ---- field rules, shared by the encoder and the decoder ---- */

enum str_rule {
	STR_ANY,       /* any byte but NUL (the script) */
	STR_PRINTABLE, /* no control characters */
};

static bool str_ok(const char *s, size_t len, size_t min, size_t max, enum str_rule rule)
{
	if (len < min || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == 0)
			return false;
		if (rule == STR_PRINTABLE && (c < 0x20 || c == 0x7f))
			return false;
	}
	return true;
}

static bool addr_ok(const struct kg_pac_addr *a, bool allow_none)
{
	size_t used;
	switch (a->family) {
	case 0:
		if (!allow_none)
			return false;
		used = 0;
		break;
	case 4:
		used = 4;
		break;
	case 6:
		used = 16;
		break;
	default:
		return false;
	}
	for (size_t i = used; i < sizeof(a->bytes); i++)
		if (a->bytes[i] != 0)
			return false;
	return true;
}

/* The bounds of the single string field of each type but FIND. */
static bool text_rule(enum kg_pac_msg_type t, size_t *min, size_t *max, enum str_rule *rule)
{
	*min = 0;
	*rule = STR_PRINTABLE;
	switch (t) {
	case KG_PAC_LOAD:
		*max = KG_PAC_SCRIPT_MAX;
		*rule = STR_ANY;
		return true;
	case KG_PAC_RESULT:
		*max = KG_PAC_RESULT_MAX;
		return true;
	case KG_PAC_NEED_DNS:
		*min = 1;
		*max = KG_PAC_HOST_MAX;
		return true;
	case KG_PAC_ALERT:
	case KG_PAC_ERROR:
		*max = KG_PAC_TEXT_MAX;
		return true;
	default:
		return false;
	}
}

static bool err_ok(enum kg_pac_err e)
{
	return e == KG_PAC_ERR_SCRIPT || e == KG_PAC_ERR_OOM || e == KG_PAC_ERR_PROTOCOL;
}

/* ---- decoder ---- */

struct rd {
	const uint8_t *p;
	size_t left;
	bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t n)
{
	if (r->bad || r->left < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

static uint64_t rd_be(struct rd *r, size_t n)
{
	const uint8_t *p = rd_take(r, n);
	uint64_t v = 0;
	if (!p)
		return 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static const char *rd_str(struct rd *r, size_t min, size_t max, enum str_rule rule, size_t *lenp)
{
	uint64_t len = rd_be(r, 4);
	if (r->bad || len > max || len < min || len + 1 > r->left) {
		r->bad = true;
		return NULL;
	}
	const char *s = (const char *)rd_take(r, (size_t)len + 1);
	if (!s || s[len] != '\0' || !str_ok(s, (size_t)len, min, max, rule)) {
		r->bad = true;
		return NULL;
	}
	if (lenp)
		*lenp = (size_t)len;
	return s;
}

static void rd_addr(struct rd *r, struct kg_pac_addr *a, bool allow_none)
{
	const uint8_t *p = rd_take(r, 17);
	if (!p)
		return;
	a->family = p[0];
	memcpy(a->bytes, p + 1, 16);
	if (!addr_ok(a, allow_none))
		r->bad = true;
}

int kg_pac_frame_body_len(const uint8_t hdr[KG_PAC_FRAME_HDR], size_t *body_len)
{
	uint32_t n =
	    (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	if (n == 0 || n > KG_PAC_BODY_MAX)
		return -EBADMSG;
	*body_len = n;
	return 0;
}

static void rd_find(struct rd *r, struct kg_pac_find *f)
{
	f->url = rd_str(r, 0, KG_PAC_URL_MAX, STR_PRINTABLE, NULL);
	f->host = rd_str(r, 0, KG_PAC_HOST_MAX, STR_PRINTABLE, NULL);
	rd_addr(r, &f->my_ip, true);
	f->now = (int64_t)rd_be(r, 8);
	f->tz_offset = (int32_t)(uint32_t)rd_be(r, 4);
	if (f->tz_offset > KG_PAC_TZ_OFFSET_MAX || f->tz_offset < -KG_PAC_TZ_OFFSET_MAX)
		r->bad = true;
	uint64_t n = rd_be(r, 2);
	if (n > KG_PAC_DNS_MAX)
		r->bad = true;
	for (uint16_t i = 0; i < n && !r->bad; i++) {
		struct kg_pac_dns_entry *e = &f->dns[i];
		memset(e, 0, sizeof(*e));
		e->host = rd_str(r, 1, KG_PAC_HOST_MAX, STR_PRINTABLE, NULL);
		uint64_t na = rd_be(r, 1);
		if (na > KG_PAC_DNS_ADDRS_MAX) {
			r->bad = true;
			break;
		}
		e->naddr = (uint8_t)na;
		for (uint8_t j = 0; j < e->naddr && !r->bad; j++)
			rd_addr(r, &e->addr[j], false);
		for (uint16_t k = 0; k < i && !r->bad; k++)
			if (strcmp(f->dns[k].host, e->host) == 0)
				r->bad = true;
	}
	f->ndns = r->bad ? 0 : (uint16_t)n;
}

int kg_pac_msg_decode(const uint8_t *body, size_t len, struct kg_pac_msg *m)
{
	struct rd r = {.p = body, .left = len};
	size_t min, max;
	enum str_rule rule;

	/* The DNS table is most of the message (18 KiB): its entries are cleared as they are
	 * read, the ones past ndns are left alone. */
	memset(m, 0, offsetof(struct kg_pac_msg, find) + offsetof(struct kg_pac_find, dns));
	m->type = (enum kg_pac_msg_type)rd_be(&r, 1);
	if (r.bad) {
		/* empty body */
	} else if (m->type == KG_PAC_OK) {
		/* no fields */
	} else if (m->type == KG_PAC_FIND) {
		rd_find(&r, &m->find);
	} else if (text_rule(m->type, &min, &max, &rule)) {
		if (m->type == KG_PAC_ERROR) {
			m->err = (enum kg_pac_err)rd_be(&r, 1);
			if (!r.bad && !err_ok(m->err))
				r.bad = true;
		}
		m->text = rd_str(&r, min, max, rule, &m->text_len);
	} else {
		r.bad = true;
	}
	if (r.bad || r.left != 0) {
		memset(m, 0, sizeof(*m));
		return -EBADMSG;
	}
	return 0;
}

/* ---- encoder ---- */

struct wr {
	uint8_t *p;
	size_t cap;
	size_t len; /* counts on past cap, so one pass gives the size */
};

static void wr_bytes(struct wr *w, const void *b, size_t n)
{
	if (w->p && w->len + n <= w->cap)
		memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void wr_be(struct wr *w, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	wr_bytes(w, b, n);
}

static void wr_str(struct wr *w, const char *s, size_t len)
{
	wr_be(w, len, 4);
	wr_bytes(w, s, len);
	wr_bytes(w, "", 1);
}

static void wr_addr(struct wr *w, const struct kg_pac_addr *a)
{
	wr_bytes(w, &a->family, 1);
	wr_bytes(w, a->bytes, 16);
}

static bool find_ok(const struct kg_pac_find *f)
{
	if (!f->url || !f->host ||
	    !str_ok(f->url, strlen(f->url), 0, KG_PAC_URL_MAX, STR_PRINTABLE) ||
	    !str_ok(f->host, strlen(f->host), 0, KG_PAC_HOST_MAX, STR_PRINTABLE) ||
	    !addr_ok(&f->my_ip, true) || f->tz_offset > KG_PAC_TZ_OFFSET_MAX ||
	    f->tz_offset < -KG_PAC_TZ_OFFSET_MAX || f->ndns > KG_PAC_DNS_MAX)
		return false;
	for (uint16_t i = 0; i < f->ndns; i++) {
		const struct kg_pac_dns_entry *e = &f->dns[i];
		if (!e->host ||
		    !str_ok(e->host, strlen(e->host), 1, KG_PAC_HOST_MAX, STR_PRINTABLE) ||
		    e->naddr > KG_PAC_DNS_ADDRS_MAX)
			return false;
		for (uint8_t j = 0; j < e->naddr; j++)
			if (!addr_ok(&e->addr[j], false))
				return false;
		for (uint16_t k = 0; k < i; k++)
			if (strcmp(f->dns[k].host, e->host) == 0)
				return false;
	}
	return true;
}

/* m's frame, or for a FIND (find non-NULL) find's, into w. */
static ssize_t encode(const struct kg_pac_msg *m, const struct kg_pac_find *find, struct wr *w)
{
	size_t min, max;
	enum str_rule rule;
	enum kg_pac_msg_type type = find ? KG_PAC_FIND : m->type;

	wr_be(w, 0, 4); /* the length, patched below */
	wr_be(w, (uint64_t)type, 1);
	if (type == KG_PAC_OK) {
		/* no fields */
	} else if (type == KG_PAC_FIND) {
		const struct kg_pac_find *f = find ? find : &m->find;
		if (!find_ok(f))
			return -EINVAL;
		wr_str(w, f->url, strlen(f->url));
		wr_str(w, f->host, strlen(f->host));
		wr_addr(w, &f->my_ip);
		wr_be(w, (uint64_t)f->now, 8);
		wr_be(w, (uint32_t)f->tz_offset, 4);
		wr_be(w, f->ndns, 2);
		for (uint16_t i = 0; i < f->ndns; i++) {
			const struct kg_pac_dns_entry *e = &f->dns[i];
			wr_str(w, e->host, strlen(e->host));
			wr_be(w, e->naddr, 1);
			for (uint8_t j = 0; j < e->naddr; j++)
				wr_addr(w, &e->addr[j]);
		}
	} else if (text_rule(type, &min, &max, &rule)) {
		if (!m->text || !str_ok(m->text, m->text_len, min, max, rule))
			return -EINVAL;
		if (m->type == KG_PAC_ERROR) {
			if (!err_ok(m->err))
				return -EINVAL;
			wr_be(w, (uint64_t)m->err, 1);
		}
		wr_str(w, m->text, m->text_len);
	} else {
		return -EINVAL;
	}
	size_t body = w->len - KG_PAC_FRAME_HDR;
	if (body > KG_PAC_BODY_MAX)
		return -EINVAL;
	if (w->p && w->cap >= KG_PAC_FRAME_HDR) {
		w->p[0] = (uint8_t)(body >> 24);
		w->p[1] = (uint8_t)(body >> 16);
		w->p[2] = (uint8_t)(body >> 8);
		w->p[3] = (uint8_t)body;
	}
	return (ssize_t)w->len;
}

/* Sizes the frame first, so a short buffer is -ENOSPC with nothing half written. */
static ssize_t encode_into(const struct kg_pac_msg *m, const struct kg_pac_find *f, uint8_t *out,
			   size_t cap)
{
	struct wr size = {0};
	ssize_t n = encode(m, f, &size);
	if (n < 0)
		return n;
	if ((size_t)n > cap)
		return -ENOSPC;
	struct wr w = {.p = out, .cap = cap};
	return encode(m, f, &w);
}

ssize_t kg_pac_msg_size(const struct kg_pac_msg *m)
{
	struct wr w = {0};
	return encode(m, NULL, &w);
}

ssize_t kg_pac_msg_encode(const struct kg_pac_msg *m, uint8_t *out, size_t cap)
{
	return encode_into(m, NULL, out, cap);
}

ssize_t kg_pac_find_size(const struct kg_pac_find *f)
{
	struct wr w = {0};
	return encode(NULL, f, &w);
}

ssize_t kg_pac_find_encode(const struct kg_pac_find *f, uint8_t *out, size_t cap)
{
	return encode_into(NULL, f, out, cap);
}

/* ---- helpers ---- */

int kg_pac_addr_parse(const char *s, struct kg_pac_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->bytes) == 1) {
		a->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, s, a->bytes) == 1) {
		a->family = 6;
		return 0;
	}
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

int kg_pac_addr_format(const struct kg_pac_addr *a, char *out, size_t cap)
{
	char buf[INET6_ADDRSTRLEN];
	if (a->family != 4 && a->family != 6)
		return -EINVAL;
	if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, buf, sizeof(buf)))
		return -EINVAL;
	size_t n = strlen(buf);
	if (n + 1 > cap)
		return -ENOSPC;
	memcpy(out, buf, n + 1);
	return (int)n;
}

size_t kg_pac_sanitize(const char *text, size_t len, char *out, size_t cap)
{
	size_t n = len < cap - 1 ? len : cap - 1;
	/* Never end inside a UTF-8 sequence: drop continuation bytes and the lead byte. */
	if (n < len) {
		size_t k = n;
		while (k > 0 && ((unsigned char)text[k] & 0xc0) == 0x80)
			k--;
		n = k;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)text[i];
		out[i] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	out[n] = '\0';
	return n;
}
