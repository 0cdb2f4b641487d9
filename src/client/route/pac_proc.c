/* The client's side of the PAC evaluator: spawn, load, find with a deadline, kill and
 * restart (see pac_proc.h). Requests are pipelined: up to KG_PAC_PROC_PIPELINE_MAX FIND
 * frames go out before their answers come back (one sendmsg for all that are ready), and
 * answers are read as they come (one recv drains what is there), matched in order with the
 * requests (the evaluator answers one at a time, in order). ALERT frames before an answer
 * belong to that answer's request. The deadline is per request: it runs from the moment the
 * request is the oldest one unanswered (the evaluator is busy with it, or about to be), so a
 * request never pays for the time its predecessors took. When the oldest request misses its
 * deadline, kills the evaluator, breaks the protocol or runs out of memory, it fails alone:
 * the evaluator is restarted and the requests behind it are sent again to the new one.
 * LOAD is one exchange with nothing in flight.
 */
#include "client/route/pac_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The largest answer body: ERROR (type, kind, length, text, NUL) or RESULT. */
#define ANSWER_BODY_MAX (1 + 1 + 4 + KG_PAC_RESULT_MAX + 1)
#define PIPE		KG_PAC_PROC_PIPELINE_MAX

/* A request's own DNS table, made when the evaluator first asks it for a name: the first
 * frame decoded (its strings point into orig) and the names added since. */
struct work {
	uint8_t *orig;
	struct kg_pac_msg m;
	char names[KG_PAC_DNS_MAX][KG_PAC_HOST_MAX + 1];
};

/* One request in the pipeline. */
struct slot {
	void *tag;
	kg_pac_resolve_fn resolve; /* NULL: NEED_DNS goes back to the caller */
	void *rud;
	uint8_t *frame; /* the FIND frame, kept until the answer (sent again after a restart) */
	size_t len, cap;
	struct work *w;
	unsigned rounds; /* NEED_DNS answers so far */
	bool retried;	 /* sent again after the evaluator reached its CPU limit */
	bool dropped;	 /* kg_pac_proc_drop: its answer is read and thrown away */
};

struct kg_pac_proc {
	char *path;
	unsigned find_ms, load_ms;
	void (*on_alert)(void *ud, const char *msg);
	void *ud;

	pid_t pid;   /* -1: not running */
	int died_of; /* the signal that ended the last evaluator that died, or 0 */
	int fd;
	unsigned restarts;

	char *pac; /* the PAC that loaded last, for restarts; NULL: none */
	size_t pac_len;
	bool loaded;

	/* The pipeline: ring[head] is the oldest request in flight, count of them; the first
	 * nsent are sent whole, and sent_off bytes of the next one. head_since: when ring[head]
	 * became the oldest (its deadline runs from there). */
	struct slot ring[PIPE];
	unsigned head, count, nsent;
	size_t sent_off;
	int64_t head_since;

	/* Answer frames as received, unread ones in [off, have); room for one whole frame and
	 * the start of another (a whole frame is taken out before the next read). */
	uint8_t answer[2 * (KG_PAC_FRAME_HDR + ANSWER_BODY_MAX)];
	size_t off, have;
	bool popped_dropped; /* the request pop_head took out last was dropped */
};

static void slot_clear(struct slot *s);

/* ---- the child ---- */

static void describe_status(int st, char *out, size_t cap)
{
	if (WIFEXITED(st)) {
		snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
	} else if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		const char *why = sig == SIGSYS ? " (the sandbox stopped a forbidden system call)"
				  : sig == SIGXCPU ? " (its CPU time limit)"
				  : sig == SIGKILL ? " (the kernel's OOM killer?)"
						   : "";
		snprintf(out, cap, "was killed by signal %d, %s%s", sig, strsignal(sig), why);
	} else {
		snprintf(out, cap, "ended (status 0x%x)", (unsigned)st);
	}
}

/* Kills (by PID) and reaps the evaluator; its wait status, or -1 when none was running. */
static int stop_child(struct kg_pac_proc *p)
{
	int st = -1;
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->off = p->have = 0;
	p->nsent = 0;
	p->sent_off = 0;
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	p->pid = -1;
	return st;
}

static int spawn(struct kg_pac_proc *p, char *err, size_t errlen)
{
	int sv[2];
	if (access(p->path, X_OK) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot start the PAC evaluator %s: %s", p->path,
			 strerror(e));
		return -ECHILD;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot start the PAC evaluator: socketpair: %s",
			 strerror(e));
		return -ECHILD;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		snprintf(err, errlen, "cannot start the PAC evaluator: fork: %s", strerror(e));
		return -ECHILD;
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		sigset_t none;
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		sigaction(SIGPIPE, &dfl, NULL);
		int s = fcntl(sv[1], F_DUPFD, 3); /* above 0 and 1 before the dup2s */
		if (s < 0 || dup2(s, 0) < 0 || dup2(s, 1) < 0)
			_exit(127);
		close_range(3, ~0u, 0);
		char *argv[] = {(char *)"kernelgatekeeper-pac", NULL};
		execv(p->path, argv);
		_exit(127);
	}
	close(sv[1]);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	p->pid = pid;
	p->fd = sv[0];
	return 0;
}

/* ---- reading and writing ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the socket until the deadline: the revents, or -ETIMEDOUT. The socket
 * is looked at once more when the deadline has passed already, so what is there counts. */
static int wait_fd(struct kg_pac_proc *p, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd pfd = {.fd = p->fd, .events = events};
		int r = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (r > 0)
			return pfd.revents;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -ECHILD;
	}
}

/* A whole frame at p->answer + p->off: 1 (its body length in *blen), 0 not yet, -EPROTO. */
static int frame_ready(const struct kg_pac_proc *p, size_t *blen)
{
	if (p->have - p->off < KG_PAC_FRAME_HDR)
		return 0;
	if (kg_pac_frame_body_len(p->answer + p->off, blen) < 0 || *blen > ANSWER_BODY_MAX)
		return -EPROTO;
	return p->have - p->off >= KG_PAC_FRAME_HDR + *blen;
}

/* Reads what the socket holds (after moving the unread bytes to the front): 0, or -ECHILD
 * when the evaluator is gone. */
static int read_some(struct kg_pac_proc *p)
{
	if (p->off > 0) {
		memmove(p->answer, p->answer + p->off, p->have - p->off);
		p->have -= p->off;
		p->off = 0;
	}
	ssize_t r = recv(p->fd, p->answer + p->have, sizeof(p->answer) - p->have, 0);
	if (r > 0)
		p->have += (size_t)r;
	else if (r == 0)
		return -ECHILD;
	else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
		return -ECHILD;
	return 0;
}

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
	int ev = wait_fd(p, events, deadline);
	if (ev < 0)
		return ev;
	if (ev & POLLOUT) {
		int r = flush_out(p);
		if (r < 0)
			return r;
	}
	if (ev & (POLLIN | POLLHUP | POLLERR))
		return read_some(p);
	return 0;
}

/* ---- LOAD: one exchange with nothing in flight ---- */

static int send_all(struct kg_pac_proc *p, const uint8_t *b, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t w = send(p->fd, b, n, MSG_NOSIGNAL);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int r = wait_fd(p, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		return -ECHILD; /* EPIPE, ECONNRESET: the evaluator is gone */
	}
	return 0;
}

/* Sends one request and reads frames until the answer (ALERTs go to the callback). 0 with
 * the answer in *m (pointing into p->answer, valid until the next read), -ETIMEDOUT,
 * -ECHILD or -EPROTO (also for bytes after the answer: the evaluator speaks when asked). */
static int exchange(struct kg_pac_proc *p, const uint8_t *req, size_t len, unsigned timeout_ms,
		    struct kg_pac_msg *m)
{
	int64_t deadline = now_ms() + timeout_ms;
	int r = send_all(p, req, len, deadline);
	if (r < 0)
		return r;
	for (;;) {
		size_t blen;
		r = frame_ready(p, &blen);
		if (r < 0)
			return r;
		if (r == 0) {
			int ev = wait_fd(p, POLLIN, deadline);
			if (ev < 0)
				return ev;
			if ((r = read_some(p)) < 0)
				return r;
			continue;
		}
		const uint8_t *body = p->answer + p->off + KG_PAC_FRAME_HDR;
		p->off += KG_PAC_FRAME_HDR + blen;
		if (kg_pac_msg_decode(body, blen, m) < 0)
			return -EPROTO;
		if (m->type != KG_PAC_ALERT)
			break;
		if (p->on_alert)
			p->on_alert(p->ud, m->text);
	}
	if (p->have != p->off)
		return -EPROTO;
	p->off = p->have = 0; /* the answer stays in place for the caller */
	return 0;
}

static int load_into_child(struct kg_pac_proc *p, char *err, size_t errlen);

/* After a failed exchange (r < 0): says what happened into err (unless the evaluator said it
 * already), kills the evaluator and starts a new one, reloading the PAC. Returns r. */
static int fail_and_restart(struct kg_pac_proc *p, int r, const char *what, unsigned ms, char *err,
			    size_t errlen)
{
	char st[160];
	int status;
	switch (r) {
	case -ETIMEDOUT:
		stop_child(p);
		snprintf(err, errlen, "PAC %s did not finish within %u ms (an endless loop?)", what,
			 ms);
		break;
	case -ECHILD:
		status = stop_child(p);
		p->died_of = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		describe_status(status, st, sizeof(st));
		snprintf(err, errlen, "the PAC evaluator %s during the %s", st, what);
		break;
	case -EPROTO:
		stop_child(p);
		if (!err[0])
			snprintf(err, errlen, "the PAC evaluator broke the protocol during the %s",
				 what);
		break;
	default:
		stop_child(p); /* -ENOMEM: err says it already */
		break;
	}
	char ignored[KG_PAC_TEXT_MAX + 1];
	if (spawn(p, ignored, sizeof(ignored)) == 0) {
		p->restarts++;
		if (p->loaded && load_into_child(p, ignored, sizeof(ignored)) < 0) {
			p->loaded = false; /* could not reload: no PAC until the next load */
			stop_child(p);
		}
	}
	return r;
}

/* LOAD of p->pac into the running child, with no restart on failure. 0, or -errno. */
static int load_into_child(struct kg_pac_proc *p, char *err, size_t errlen)
{
	struct kg_pac_msg m = {.type = KG_PAC_LOAD, .text = p->pac, .text_len = p->pac_len};
	ssize_t n = kg_pac_msg_size(&m);
	if (n < 0)
		return -EINVAL;
	uint8_t *frame = malloc((size_t)n);
	if (!frame)
		return -ENOMEM;
	kg_pac_msg_encode(&m, frame, (size_t)n);
	struct kg_pac_msg a;
	int r = exchange(p, frame, (size_t)n, p->load_ms, &a);
	free(frame);
	if (r < 0)
		return r;
	if (a.type == KG_PAC_OK)
		return 0;
	if (a.type == KG_PAC_ERROR) {
		snprintf(err, errlen, "%s", a.text);
		return a.err == KG_PAC_ERR_SCRIPT ? -ENOEXEC
		       : a.err == KG_PAC_ERR_OOM  ? -ENOMEM
						  : -EPROTO;
	}
	return -EPROTO;
}

static int ensure_running(struct kg_pac_proc *p, bool reload, char *err, size_t errlen)
{
	if (p->pid > 0)
		return 0;
	int r = spawn(p, err, errlen);
	if (r < 0)
		return r;
	p->restarts++;
	if (reload && p->loaded && (r = load_into_child(p, err, errlen)) < 0) {
		p->loaded = false;
		stop_child(p);
		return r;
	}
	return 0;
}

/* ---- the API ---- */

struct kg_pac_proc *kg_pac_proc_new(const struct kg_pac_proc_opts *opts, char *err, size_t errlen)
{
	struct kg_pac_proc *p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(opts->path))) {
		free(p);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->find_ms = opts->find_timeout_ms ? opts->find_timeout_ms : KG_PAC_PROC_FIND_TIMEOUT_MS;
	p->load_ms = opts->load_timeout_ms ? opts->load_timeout_ms : KG_PAC_PROC_LOAD_TIMEOUT_MS;
	p->on_alert = opts->on_alert;
	p->ud = opts->ud;
	p->pid = -1;
	p->fd = -1;
	if (spawn(p, err, errlen) < 0) {
		free(p->path);
		free(p);
		return NULL;
	}
	return p;
}

void kg_pac_proc_free(struct kg_pac_proc *p)
{
	if (!p)
		return;
	stop_child(p);
	for (unsigned i = 0; i < PIPE; i++) {
		slot_clear(&p->ring[i]);
		free(p->ring[i].frame);
	}
	free(p->pac);
	free(p->path);
	free(p);
}

int kg_pac_proc_load(struct kg_pac_proc *p, const char *pac, size_t len, char *err, size_t errlen)
{
	err[0] = '\0';
	if (p->count) {
		snprintf(err, errlen, "PAC evaluator busy: requests in flight");
		return -EBUSY;
	}
	p->loaded = false;
	free(p->pac);
	p->pac = NULL;
	p->pac_len = 0;
	if (len > KG_PAC_SCRIPT_MAX) {
		snprintf(err, errlen, "PAC refused: %zu bytes, more than the %d-byte limit", len,
			 KG_PAC_SCRIPT_MAX);
		return -E2BIG;
	}
	if (memchr(pac, '\0', len)) {
		snprintf(err, errlen, "PAC refused: it contains a NUL byte");
		return -EINVAL;
	}
	int r = ensure_running(p, false, err, errlen);
	if (r < 0)
		return r;
	if (!(p->pac = malloc(len ? len : 1))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	memcpy(p->pac, pac, len);
	p->pac_len = len;
	r = load_into_child(p, err, errlen);
	if (r == 0) {
		p->loaded = true;
		return 0;
	}
	free(p->pac);
	p->pac = NULL;
	p->pac_len = 0;
	if (r == -ENOEXEC)
		return r; /* the evaluator is fine, the PAC is not */
	return fail_and_restart(p, r, "loading", p->load_ms, err, errlen);
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
	p->head_since = now_ms();
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
	p->head_since = now_ms();
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
	p->head_since = now_ms();
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
	fail_and_restart(p, r, "evaluation", p->find_ms, out, outlen);
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
	int r = ensure_running(p, true, err, errlen);
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
		p->head_since = now_ms();
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
			if ((r = ensure_running(p, true, out, outlen)) < 0) {
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
		r = frame_ready(p, &blen);
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
				p->head_since = now_ms();
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
	return p->count > 0 && frame_ready(p, &blen) != 0;
}

void *kg_pac_proc_head_tag(const struct kg_pac_proc *p)
{
	return p->count ? p->ring[p->head].tag : NULL;
}

unsigned kg_pac_proc_abandon(struct kg_pac_proc *p, void **tags, unsigned cap)
{
	unsigned n = 0;
	if (p->count > 0)
		stop_child(p); /* its answers would be for requests no one waits for */
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

pid_t kg_pac_proc_pid(const struct kg_pac_proc *p)
{
	return p->pid;
}

unsigned kg_pac_proc_restarts(const struct kg_pac_proc *p)
{
	return p->restarts;
}
