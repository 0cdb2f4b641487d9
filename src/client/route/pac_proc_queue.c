/* The client's side of the PAC evaluator, the pipelined requests (see pac_proc.h): up to
 * KG_PAC_PROC_PIPELINE_MAX FIND frames go out before their answers come back (one sendmsg for
 * all that are ready), and answers are read as they come (one recv drains what is there),
 * matched in order with the requests (the evaluator answers one at a time, in order). ALERT
 * frames before an answer belong to that answer's request. The deadline is per request: it
 * runs from the moment the request is the oldest one unanswered (the evaluator is busy with
 * it, or about to be), so a request never pays for the time its predecessors took. When the
 * oldest request misses its deadline, kills the evaluator, breaks the protocol or runs out of
 * memory, it fails alone: the evaluator is restarted (pac_proc.c) and the requests behind it
 * are sent again to the new one.
 */
#include "client/route/pac_proc_queue.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "client/route/pac_proc.h"
#include "client/route/pac_proc_priv.h"

/* Sends what the pipeline has not sent yet, as much as the socket takes now, in one
 * sendmsg: 0, or -ECHILD. */
static int flush_out(struct kg_pac_proc *p)
{
	while (p->nsent < p->count) {
		struct iovec iov[PIPE];
		int n = 0;
		for (unsigned i = p->nsent; i < p->count; i++, n++) {
			const struct slot *s = &p->ring[(p->head + i) % PIPE];
			size_t skip = i == p->nsent ? p->sent_off : 0;
			iov[n].iov_base = s->frame + skip;
			iov[n].iov_len = s->len - skip;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(p->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (w <= 0)
			return -ECHILD; /* EPIPE, ECONNRESET: the evaluator is gone */
		size_t left = (size_t)w;
		while (left > 0) {
			const struct slot *s = &p->ring[(p->head + p->nsent) % PIPE];
			size_t rest = s->len - p->sent_off;
			if (left < rest) {
				p->sent_off += left;
				break;
			}
			left -= rest;
			p->nsent++;
			p->sent_off = 0;
		}
	}
	return 0;
}

/* Waits until the deadline for an answer to read or room to send the rest of the pipeline,
 * and does that: 0 (something moved, or nothing but a signal), -ETIMEDOUT, -ECHILD. */
static int pump(struct kg_pac_proc *p, int64_t deadline)
{
	short events = POLLIN | (p->nsent < p->count ? POLLOUT : 0);
	int ev = pac_proc_wait_fd(p, events, deadline);
	if (ev < 0)
		return ev;
	if (ev & POLLOUT) {
		int r = flush_out(p);
		if (r < 0)
			return r;
	}
	if (ev & (POLLIN | POLLHUP | POLLERR))
		return pac_proc_read_some(p);
	return 0;
}

/* ---- the pipeline ---- */

static struct slot *slot_at(struct kg_pac_proc *p, unsigned i)
{
	return &p->ring[(p->head + i) % PIPE];
}

static void slot_clear(struct slot *s)
{
	if (s->w) {
		free(s->w->orig);
		free(s->w);
	}
	s->w = NULL;
	s->tag = NULL;
	s->resolve = NULL;
	s->rud = NULL;
	s->len = 0;
	s->rounds = 0;
	s->retried = false;
	s->dropped = false;
}

/* Encodes f into s's frame (growing it): 0, -EINVAL (out of the protocol's bounds), -ENOMEM. */
static int slot_encode(struct slot *s, const struct kg_pac_find *f)
{
	ssize_t n = kg_pac_find_size(f);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n > s->cap) {
		size_t cap = (size_t)n < 512 ? 512 : (size_t)n;
		uint8_t *b = realloc(s->frame, cap);
		if (!b)
			return -ENOMEM;
		s->frame = b;
		s->cap = cap;
	}
	s->len = (size_t)kg_pac_find_encode(f, s->frame, s->cap);
	return 0;
}

/* The oldest request leaves the pipeline; its tag into *tag. The next one's deadline starts. */
static void pop_head(struct kg_pac_proc *p, void **tag)
{
	struct slot *s = slot_at(p, 0);
	*tag = s->tag;
	p->popped_dropped = s->dropped;
	slot_clear(s);
	p->head = (p->head + 1) % PIPE;
	p->count--;
	p->nsent--;
	p->head_since = pac_proc_now_ms();
}

/* The oldest request goes to the back of the pipeline, its frame not sent yet. */
static void requeue_head(struct kg_pac_proc *p)
{
	unsigned tail = (p->head + p->count) % PIPE;
	if (tail != p->head) {
		struct slot t = p->ring[tail];
		p->ring[tail] = p->ring[p->head];
		p->ring[p->head] = t;
	}
	p->head = (p->head + 1) % PIPE;
	p->nsent--;
	p->head_since = pac_proc_now_ms();
}

/* Takes the request at position i (not sent yet) out of the pipeline. */
static void remove_at(struct kg_pac_proc *p, unsigned i)
{
	for (; i + 1 < p->count; i++) {
		struct slot t = *slot_at(p, i);
		*slot_at(p, i) = *slot_at(p, i + 1);
		*slot_at(p, i + 1) = t;
	}
	slot_clear(slot_at(p, p->count - 1));
	p->count--;
}

/* The evaluator was restarted: everything in flight goes to the new one, but for the
 * requests dropped meanwhile (the oldest one aside: the caller takes it out). */
static void resend_all(struct kg_pac_proc *p)
{
	for (unsigned i = p->count; i-- > 1;)
		if (slot_at(p, i)->dropped)
			remove_at(p, i);
	p->nsent = 0;
	p->sent_off = 0;
	p->head_since = pac_proc_now_ms();
}

/* The oldest request asked for a name: resolves it into the request's own table and sends
 * the request again (at the back). 1 when it went back, else -errno with a sentence in out
 * and the request still at the head. */
static int follow_need_dns(struct kg_pac_proc *p, struct slot *s, char *out, size_t outlen)
{
	if (s->rounds++ == KG_PAC_PROC_DNS_ROUNDS) {
		snprintf(out, outlen, "PAC asked for more than %d host names in one evaluation",
			 KG_PAC_PROC_DNS_ROUNDS);
		return -ELOOP;
	}
	if (!s->w) {
		struct work *w = malloc(sizeof(*w));
		if (!w) {
			snprintf(out, outlen, "out of memory");
			return -ENOMEM;
		}
		w->orig = s->frame; /* the decoded strings point into it from now on */
		s->frame = NULL;
		s->cap = 0;
		if (kg_pac_msg_decode(w->orig + KG_PAC_FRAME_HDR, s->len - KG_PAC_FRAME_HDR,
				      &w->m) < 0) {
			free(w->orig);
			free(w);
			snprintf(out, outlen, "PAC request: cannot read back its own frame");
			return -EPROTO;
		}
		s->w = w;
	}
	struct kg_pac_find *f = &s->w->m.find;
	if (f->ndns >= KG_PAC_DNS_MAX) {
		snprintf(out, outlen, "PAC asked for more host names than a request holds");
		return -ENOSPC;
	}
	struct kg_pac_dns_entry *e = &f->dns[f->ndns];
	snprintf(s->w->names[f->ndns], sizeof(s->w->names[0]), "%s", out);
	memset(e, 0, sizeof(*e));
	e->host = s->w->names[f->ndns];
	s->resolve(s->rud, e);
	if (e->naddr > KG_PAC_DNS_ADDRS_MAX)
		e->naddr = KG_PAC_DNS_ADDRS_MAX;
	f->ndns++;
	int r = slot_encode(s, f);
	if (r < 0) {
		snprintf(out, outlen,
			 r == -ENOMEM
			     ? "out of memory"
			     : "PAC request refused: a field is out of the protocol's bounds");
		return r;
	}
	out[0] = '\0';
	requeue_head(p);
	return 1;
}

/* The oldest request failed with r: the evaluator is killed and restarted (fail_and_restart,
 * sentence in out) and the rest of the pipeline sent to the new one. 1 when the request
 * itself is to be tried again (the evaluator died of its lifetime CPU limit: once), else r
 * with the request out of the pipeline. */
static int fail_head(struct kg_pac_proc *p, int r, char *out, size_t outlen, void **tag)
{
	struct slot *s = slot_at(p, 0);
	p->died_of = 0;
	pac_proc_fail_and_restart(p, r, "evaluation", p->find_ms, out, outlen);
	resend_all(p);
	/* RLIMIT_CPU counts the evaluator's whole life, so a long-lived one reaches it through
	 * no fault of this request: the restarted one gets the request again, once. */
	if (r == -ECHILD && p->died_of == SIGXCPU && !s->retried && !s->dropped && p->pid > 0 &&
	    p->loaded) {
		s->retried = true;
		out[0] = '\0';
		return 1;
	}
	p->nsent = 1; /* as if sent: pop_head takes it out */
	pop_head(p, tag);
	p->nsent = 0;
	return r;
}

int kg_pac_proc_submit(struct kg_pac_proc *p, const struct kg_pac_find *q,
		       kg_pac_resolve_fn resolve, void *rud, void *tag, char *err, size_t errlen)
{
	err[0] = '\0';
	if (p->count == PIPE) {
		snprintf(err, errlen, "PAC evaluator busy: %d requests in flight", PIPE);
		return -EBUSY;
	}
	if (!p->loaded) {
		snprintf(err, errlen, "no PAC loaded");
		return -ENOEXEC;
	}
	bool was_running = p->pid > 0;
	int r = pac_proc_ensure_running(p, true, err, errlen);
	if (r < 0)
		return r;
	if (!was_running)
		resend_all(p); /* a new evaluator: whatever was in flight goes to it */
	struct slot *s = slot_at(p, p->count);
	slot_clear(s);
	if ((r = slot_encode(s, q)) < 0) {
		snprintf(err, errlen,
			 r == -ENOMEM
			     ? "out of memory"
			     : "PAC request refused: a field is out of the protocol's bounds");
		return r;
	}
	s->tag = tag;
	s->resolve = resolve;
	s->rud = rud;
	if (p->count++ == 0)
		p->head_since = pac_proc_now_ms();
	return 0;
}

/* kg_pac_proc_complete for the oldest request, dropped or not. */
static int complete_head(struct kg_pac_proc *p, void **tag, char *out, size_t outlen)
{
	for (;;) {
		struct slot *s = slot_at(p, 0);
		int r;
		/* A restart that could not reload the PAC, or not start the evaluator: the
		 * requests left fail as a new one would. */
		if (!p->loaded) {
			snprintf(out, outlen, "no PAC loaded");
			p->nsent = 1;
			pop_head(p, tag);
			p->nsent = 0;
			return -ENOEXEC;
		}
		if (p->pid < 0) {
			if ((r = pac_proc_ensure_running(p, true, out, outlen)) < 0) {
				p->nsent = 1;
				pop_head(p, tag);
				p->nsent = 0;
				return r;
			}
			resend_all(p);
		}
		if (p->nsent < p->count && (r = flush_out(p)) < 0)
			goto failed;
		size_t blen;
		r = pac_proc_frame_ready(p, &blen);
		if (r == 0) {
			if ((r = pump(p, p->head_since + p->find_ms)) < 0)
				goto failed;
			continue;
		}
		if (r < 0)
			goto failed;
		if (p->nsent == 0) {
			r = -EPROTO; /* an answer before the request */
			goto failed;
		}
		struct kg_pac_msg a;
		const uint8_t *body = p->answer + p->off + KG_PAC_FRAME_HDR;
		p->off += KG_PAC_FRAME_HDR + blen;
		if (kg_pac_msg_decode(body, blen, &a) < 0) {
			r = -EPROTO;
			goto failed;
		}
		if (a.type == KG_PAC_ALERT) {
			if (p->on_alert)
				p->on_alert(p->ud, a.text);
			continue;
		}
		/* Bytes after the last answer: the evaluator speaks only when asked. */
		if (p->count == 1 && p->off != p->have) {
			r = -EPROTO;
			goto failed;
		}
		switch (a.type) {
		case KG_PAC_RESULT:
		case KG_PAC_NEED_DNS:
			if (a.text_len + 1 > outlen) {
				snprintf(out, outlen,
					 "PAC answer too long for the caller's buffer");
				pop_head(p, tag);
				return -ENOSPC;
			}
			memcpy(out, a.text, a.text_len + 1);
			if (a.type == KG_PAC_NEED_DNS && s->resolve && !s->dropped) {
				r = follow_need_dns(p, s, out, outlen);
				if (r > 0)
					continue;
				pop_head(p, tag);
				return r;
			}
			pop_head(p, tag);
			return a.type == KG_PAC_RESULT ? KG_PAC_PROC_RESULT : KG_PAC_PROC_NEED_DNS;
		case KG_PAC_ERROR:
			snprintf(out, outlen, "%s", a.text);
			if (a.err == KG_PAC_ERR_SCRIPT) {
				pop_head(p, tag);
				return -ENOEXEC;
			}
			r = a.err == KG_PAC_ERR_OOM ? -ENOMEM : -EPROTO;
			break;
		default:
			r = -EPROTO;
			break;
		}
	failed:
		if ((r = fail_head(p, r, out, outlen, tag)) < 0)
			return r;
	}
}

int kg_pac_proc_complete(struct kg_pac_proc *p, void **tag, char *out, size_t outlen)
{
	for (;;) {
		out[0] = '\0';
		*tag = NULL;
		if (p->count == 0) {
			snprintf(out, outlen, "no PAC request in flight");
			return -ENOENT;
		}
		int r = complete_head(p, tag, out, outlen);
		if (!p->popped_dropped)
			return r;
	}
}

bool kg_pac_proc_drop(struct kg_pac_proc *p, void *tag)
{
	for (unsigned i = 0; i < p->count; i++) {
		struct slot *s = slot_at(p, i);
		if (s->tag != tag || s->dropped)
			continue;
		if (i > p->nsent || (i == p->nsent && p->sent_off == 0)) {
			remove_at(p, i); /* the evaluator never saw it */
			if (i == 0)
				p->head_since = pac_proc_now_ms();
		} else if (i == 0) {
			return false; /* being evaluated */
		} else {
			s->dropped = true;
			s->tag = NULL;
		}
		return true;
	}
	return false;
}

unsigned kg_pac_proc_tags(const struct kg_pac_proc *p, void **tags, unsigned cap)
{
	unsigned n = 0;
	for (unsigned i = 0; i < p->count && n < cap; i++)
		if (!p->ring[(p->head + i) % PIPE].dropped)
			tags[n++] = p->ring[(p->head + i) % PIPE].tag;
	return n;
}

unsigned kg_pac_proc_in_flight(const struct kg_pac_proc *p)
{
	return p->count;
}

bool kg_pac_proc_answer_waiting(const struct kg_pac_proc *p)
{
	size_t blen;
	return p->count > 0 && pac_proc_frame_ready(p, &blen) != 0;
}

void *kg_pac_proc_head_tag(const struct kg_pac_proc *p)
{
	return p->count ? p->ring[p->head].tag : NULL;
}

unsigned kg_pac_proc_abandon(struct kg_pac_proc *p, void **tags, unsigned cap)
{
	unsigned n = 0;
	if (p->count > 0)
		pac_proc_stop_child(p); /* its answers would be for requests no one waits for */
	while (p->count > 0) {
		void *tag;
		p->nsent = 1;
		pop_head(p, &tag);
		if (n < cap)
			tags[n++] = tag;
	}
	p->nsent = 0;
	p->sent_off = 0;
	return n;
}

/* ---- one request at a time, through the pipeline ---- */

int kg_pac_proc_find(struct kg_pac_proc *p, const struct kg_pac_find *q, char *out, size_t outlen)
{
	if (p->count) {
		snprintf(out, outlen, "PAC evaluator busy: requests in flight");
		return -EBUSY;
	}
	int r = kg_pac_proc_submit(p, q, NULL, NULL, NULL, out, outlen);
	void *tag;
	return r < 0 ? r : kg_pac_proc_complete(p, &tag, out, outlen);
}

int kg_pac_proc_find_resolving(struct kg_pac_proc *p, const struct kg_pac_find *q,
			       kg_pac_resolve_fn resolve, void *ud, char *out, size_t outlen)
{
	if (p->count) {
		snprintf(out, outlen, "PAC evaluator busy: requests in flight");
		return -EBUSY;
	}
	int r = kg_pac_proc_submit(p, q, resolve, ud, NULL, out, outlen);
	void *tag;
	return r < 0 ? r : kg_pac_proc_complete(p, &tag, out, outlen);
}

void pac_proc_queue_free(struct kg_pac_proc *p)
{
	for (unsigned i = 0; i < PIPE; i++) {
		slot_clear(&p->ring[i]);
		free(p->ring[i].frame);
	}
}
