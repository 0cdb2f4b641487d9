/* The client's side of the PAC evaluator, the child's life (see pac_proc.h): spawn (a
 * socketpair, the evaluator exec'd with nothing but it open), the blocking reads and writes
 * with a deadline, LOAD (one exchange with nothing in flight), and the kill (SIGKILL, by PID),
 * reap and restart after a failure, reloading the last PAC. The pipelined FIND requests are
 * pac_proc_queue.c's; the state both share is pac_proc_priv.h's.
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
#include <unistd.h>

#include "client/route/pac_proc_priv.h"
#include "client/route/pac_proc_queue.h"

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
int pac_proc_stop_child(struct kg_pac_proc *p)
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

/* Waits for events on the socket until the deadline: the revents, or -ETIMEDOUT. The socket
 * is looked at once more when the deadline has passed already, so what is there counts. */
int pac_proc_wait_fd(struct kg_pac_proc *p, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - pac_proc_now_ms();
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
int pac_proc_frame_ready(const struct kg_pac_proc *p, size_t *blen)
{
	if (p->have - p->off < KG_PAC_FRAME_HDR)
		return 0;
	if (kg_pac_frame_body_len(p->answer + p->off, blen) < 0 || *blen > ANSWER_BODY_MAX)
		return -EPROTO;
	return p->have - p->off >= KG_PAC_FRAME_HDR + *blen;
}

/* Reads what the socket holds (after moving the unread bytes to the front): 0, or -ECHILD
 * when the evaluator is gone. */
int pac_proc_read_some(struct kg_pac_proc *p)
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
			int r = pac_proc_wait_fd(p, POLLOUT, deadline);
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
	int64_t deadline = pac_proc_now_ms() + timeout_ms;
	int r = send_all(p, req, len, deadline);
	if (r < 0)
		return r;
	for (;;) {
		size_t blen;
		r = pac_proc_frame_ready(p, &blen);
		if (r < 0)
			return r;
		if (r == 0) {
			int ev = pac_proc_wait_fd(p, POLLIN, deadline);
			if (ev < 0)
				return ev;
			if ((r = pac_proc_read_some(p)) < 0)
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
int pac_proc_fail_and_restart(struct kg_pac_proc *p, int r, const char *what, unsigned ms,
			      char *err, size_t errlen)
{
	char st[160];
	int status;
	switch (r) {
	case -ETIMEDOUT:
		pac_proc_stop_child(p);
		snprintf(err, errlen, "PAC %s did not finish within %u ms (an endless loop?)", what,
			 ms);
		break;
	case -ECHILD:
		status = pac_proc_stop_child(p);
		p->died_of = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		describe_status(status, st, sizeof(st));
		snprintf(err, errlen, "the PAC evaluator %s during the %s", st, what);
		break;
	case -EPROTO:
		pac_proc_stop_child(p);
		if (!err[0])
			snprintf(err, errlen, "the PAC evaluator broke the protocol during the %s",
				 what);
		break;
	default:
		pac_proc_stop_child(p); /* -ENOMEM: err says it already */
		break;
	}
	char ignored[KG_PAC_TEXT_MAX + 1];
	if (spawn(p, ignored, sizeof(ignored)) == 0) {
		p->restarts++;
		if (p->loaded && load_into_child(p, ignored, sizeof(ignored)) < 0) {
			p->loaded = false; /* could not reload: no PAC until the next load */
			pac_proc_stop_child(p);
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

int pac_proc_ensure_running(struct kg_pac_proc *p, bool reload, char *err, size_t errlen)
{
	if (p->pid > 0)
		return 0;
	int r = spawn(p, err, errlen);
	if (r < 0)
		return r;
	p->restarts++;
	if (reload && p->loaded && (r = load_into_child(p, err, errlen)) < 0) {
		p->loaded = false;
		pac_proc_stop_child(p);
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
	pac_proc_stop_child(p);
	pac_proc_queue_free(p);
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
	int r = pac_proc_ensure_running(p, false, err, errlen);
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
	return pac_proc_fail_and_restart(p, r, "loading", p->load_ms, err, errlen);
}

pid_t kg_pac_proc_pid(const struct kg_pac_proc *p)
{
	return p->pid;
}

unsigned kg_pac_proc_restarts(const struct kg_pac_proc *p)
{
	return p->restarts;
}
