/* The client's side of the PAC evaluator: spawn, load, find with a deadline, kill and
 * restart (see pac_proc.h). One request at a time on a non-blocking socketpair; poll()
 * enforces the deadline on both the write of the request and the read of the answer, ALERT
 * frames before the answer go to the callback.
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The largest answer body: ERROR (type, kind, length, text, NUL) or RESULT. */
#define ANSWER_BODY_MAX (1 + 1 + 4 + KG_PAC_RESULT_MAX + 1)

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

	/* Answer frames as received; room for one whole frame and the start of another. */
	uint8_t answer[2 * (KG_PAC_FRAME_HDR + ANSWER_BODY_MAX)];
	size_t have;
	uint8_t request[KG_PAC_SMALL_FRAME_MAX];
};

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
	p->have = 0;
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

/* ---- one exchange ---- */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on the socket until the deadline: 0, or -ETIMEDOUT. */
static int wait_fd(struct kg_pac_proc *p, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = {.fd = p->fd, .events = events};
		int r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -ECHILD;
	}
}

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

/* The next answer frame, whole, at the start of p->answer (body at KG_PAC_FRAME_HDR, its
 * length in *blen): 0, -ETIMEDOUT, -ECHILD or -EPROTO. Reads what is there, so one recv
 * usually brings a whole frame. */
static int next_frame(struct kg_pac_proc *p, size_t *blen, int64_t deadline)
{
	for (;;) {
		if (p->have >= KG_PAC_FRAME_HDR) {
			if (kg_pac_frame_body_len(p->answer, blen) < 0 || *blen > ANSWER_BODY_MAX)
				return -EPROTO;
			if (p->have >= KG_PAC_FRAME_HDR + *blen)
				return 0;
		}
		int w = wait_fd(p, POLLIN, deadline);
		if (w < 0)
			return w;
		ssize_t r = recv(p->fd, p->answer + p->have, sizeof(p->answer) - p->have, 0);
		if (r > 0)
			p->have += (size_t)r;
		else if (r == 0)
			return -ECHILD;
		else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
			return -ECHILD;
	}
}

/* Drops the frame at the start of p->answer. */
static void consume(struct kg_pac_proc *p, size_t blen)
{
	size_t n = KG_PAC_FRAME_HDR + blen;
	memmove(p->answer, p->answer + n, p->have - n);
	p->have -= n;
}

/* Sends one request and reads frames until the answer (ALERTs go to the callback). 0 with
 * the answer in *m (pointing into p->answer, valid until the next exchange), -ETIMEDOUT,
 * -ECHILD or -EPROTO (also for bytes after the answer: the evaluator speaks when asked). */
static int exchange(struct kg_pac_proc *p, const uint8_t *req, size_t len, unsigned timeout_ms,
		    struct kg_pac_msg *m)
{
	static const size_t none = (size_t)-1;
	int64_t deadline = now_ms() + timeout_ms;
	size_t last = none;
	int r = send_all(p, req, len, deadline);
	if (r < 0)
		return r;
	for (;;) {
		size_t blen;
		if (last != none)
			consume(p, last);
		if ((r = next_frame(p, &blen, deadline)) < 0)
			return r;
		last = blen;
		if (kg_pac_msg_decode(p->answer + KG_PAC_FRAME_HDR, blen, m) < 0)
			return -EPROTO;
		if (m->type != KG_PAC_ALERT)
			break;
		if (p->on_alert)
			p->on_alert(p->ud, m->text);
	}
	if (p->have != KG_PAC_FRAME_HDR + last)
		return -EPROTO;
	p->have = 0; /* the answer stays in place for the caller */
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
	free(p->pac);
	free(p->path);
	free(p);
}

int kg_pac_proc_load(struct kg_pac_proc *p, const char *pac, size_t len, char *err, size_t errlen)
{
	err[0] = '\0';
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

int kg_pac_proc_find(struct kg_pac_proc *p, const struct kg_pac_find *q, char *out, size_t outlen)
{
	out[0] = '\0';
	if (!p->loaded) {
		snprintf(out, outlen, "no PAC loaded");
		return -ENOEXEC;
	}
	int r = ensure_running(p, true, out, outlen);
	if (r < 0)
		return r;
	struct kg_pac_msg m = {.type = KG_PAC_FIND, .find = *q};
	ssize_t n = kg_pac_msg_encode(&m, p->request, sizeof(p->request));
	if (n < 0) {
		snprintf(out, outlen,
			 "PAC request refused: a field is out of the protocol's bounds");
		return -EINVAL;
	}
	struct kg_pac_msg a;
	r = exchange(p, p->request, (size_t)n, p->find_ms, &a);
	if (r == -ECHILD) {
		p->died_of = 0;
		fail_and_restart(p, r, "evaluation", p->find_ms, out, outlen);
		/* RLIMIT_CPU counts the evaluator's whole life, so a long-lived one reaches it
		 * through no fault of this request: the restarted one gets the request again,
		 * once. */
		if (p->died_of != SIGXCPU || p->pid < 0 || !p->loaded)
			return r;
		out[0] = '\0';
		r = exchange(p, p->request, (size_t)n, p->find_ms, &a);
	}
	if (r < 0)
		return fail_and_restart(p, r, "evaluation", p->find_ms, out, outlen);
	switch (a.type) {
	case KG_PAC_RESULT:
	case KG_PAC_NEED_DNS:
		if (a.text_len + 1 > outlen) {
			snprintf(out, outlen, "PAC answer too long for the caller's buffer");
			return -ENOSPC;
		}
		memcpy(out, a.text, a.text_len + 1);
		return a.type == KG_PAC_RESULT ? KG_PAC_PROC_RESULT : KG_PAC_PROC_NEED_DNS;
	case KG_PAC_ERROR:
		snprintf(out, outlen, "%s", a.text);
		if (a.err == KG_PAC_ERR_SCRIPT)
			return -ENOEXEC;
		return fail_and_restart(p, a.err == KG_PAC_ERR_OOM ? -ENOMEM : -EPROTO,
					"evaluation", p->find_ms, out, outlen);
	default:
		return fail_and_restart(p, -EPROTO, "evaluation", p->find_ms, out, outlen);
	}
}

int kg_pac_proc_find_resolving(struct kg_pac_proc *p, const struct kg_pac_find *q,
			       kg_pac_resolve_fn resolve, void *ud, char *out, size_t outlen)
{
	struct work {
		struct kg_pac_find f;
		char names[KG_PAC_DNS_MAX][KG_PAC_HOST_MAX + 1];
	} *w = malloc(sizeof(*w));
	if (!w) {
		snprintf(out, outlen, "out of memory");
		return -ENOMEM;
	}
	w->f = *q;
	int r;
	for (unsigned round = 0;; round++) {
		r = kg_pac_proc_find(p, &w->f, out, outlen);
		if (r != KG_PAC_PROC_NEED_DNS)
			break;
		if (round == KG_PAC_PROC_DNS_ROUNDS) {
			snprintf(out, outlen,
				 "PAC asked for more than %d host names in one evaluation",
				 KG_PAC_PROC_DNS_ROUNDS);
			r = -ELOOP;
			break;
		}
		if (w->f.ndns >= KG_PAC_DNS_MAX) {
			snprintf(out, outlen, "PAC asked for more host names than a request holds");
			r = -ENOSPC;
			break;
		}
		struct kg_pac_dns_entry *e = &w->f.dns[w->f.ndns];
		snprintf(w->names[w->f.ndns], sizeof(w->names[0]), "%s", out);
		memset(e, 0, sizeof(*e));
		e->host = w->names[w->f.ndns];
		resolve(ud, e);
		if (e->naddr > KG_PAC_DNS_ADDRS_MAX)
			e->naddr = KG_PAC_DNS_ADDRS_MAX;
		w->f.ndns++;
	}
	free(w);
	return r;
}

pid_t kg_pac_proc_pid(const struct kg_pac_proc *p)
{
	return p->pid;
}

unsigned kg_pac_proc_restarts(const struct kg_pac_proc *p)
{
	return p->restarts;
}
