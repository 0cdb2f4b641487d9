/* kernelgatekeeper-pac: the PAC evaluator (issue 13). The client (src/client/route/pac_proc.c)
 * spawns one per user, on a socketpair that is this process's fd 0 (requests) and fd 1
 * (answers); fd 2 stays the client's stderr, for diagnostics only. PAC files come from the
 * network, so they run here, never in the relay, under a sandbox entered after start-up and
 * before the first message is read.
 *
 * Protocol (src/shared/pac_proto.h): length-prefixed binary frames, every field bounded.
 *   LOAD(script <= 1 MiB)  -> OK | ERROR("PAC syntax error at line N: ...", "PAC threw while
 *                             loading: ...", "PAC defines no function FindProxyForURL")
 *   FIND(url, host, my_ip, now + tz offset, DNS table)
 *                          -> RESULT(what FindProxyForURL returned)
 *                           | NEED_DNS(host): the PAC asked dnsResolve, dnsResolveEx,
 *                             isResolvable(Ex) or isInNet(Ex) about a name the table lacks;
 *                             the evaluation was abandoned, the client resolves the name and
 *                             asks again with the table extended (at most KG_PAC_DNS_MAX names)
 *                           | ERROR("PAC threw: ...", "FindProxyForURL returned a number",
 *                             "out of memory", "no PAC loaded")
 *   Up to KG_PAC_ALERTS_MAX ALERT(msg) frames (alert() calls, each cut to 512 bytes) precede
 *   the answer they belong to. Requests are answered one at a time, in order; the client
 *   pipelines them (up to 32 in flight), and each answer is written as soon as it is known.
 *   A frame that breaks the protocol is answered with ERROR(protocol) and the evaluator ends:
 *   the stream cannot be trusted after it. End of input ends the evaluator (status 0).
 *
 * Limits. The Duktape heap is capped at 64 MiB (js.h): a runaway allocation becomes a
 * JavaScript error, reported as "out of memory". The evaluator cannot interrupt a PAC that
 * loops (the distribution's Duktape has no execution-timeout hook): the client gives each
 * request a deadline and kills and restarts the evaluator when it passes. RLIMIT_CPU (60 s of
 * CPU over the process's life, then SIGXCPU) is the backstop should the client not; RLIMIT_AS
 * (512 MiB) backs the heap cap.
 *
 * Sandbox (sandbox.c): RLIMIT_AS, RLIMIT_CPU, RLIMIT_NOFILE 3, RLIMIT_CORE 0, RLIMIT_NPROC 0;
 * PR_SET_NO_NEW_PRIVS; a seccomp filter allowing read on fd 0, write on fds 1
 * and 2, memory management without PROT_EXEC, the clock, rt_sigreturn and exit, killing the
 * process with SIGSYS on anything else (open, socket, connect, execve...). Before it, every fd
 * above 2 is closed and the time zone is loaded (Duktape's Date calls mktime; TZ is set to
 * ":/etc/localtime" when unset, so glibc does not reread the file afterwards).
 *
 * Test-only: "--selftest=open|socket|exec|mmap-exec|write-fd0" enters the sandbox and then
 * attempts that system call; the sandbox holds when the process dies of SIGSYS (status 1
 * means it did not).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pac/js.h"
#include "pac/sandbox.h"
#include "shared/pac_proto.h"

static uint8_t out_frame[KG_PAC_FRAME_HDR + 32 + KG_PAC_RESULT_MAX];

static void die(const char *what)
{
	ssize_t r = write(2, "kernelgatekeeper-pac: ", 22);
	r = write(2, what, strlen(what));
	r = write(2, "\n", 1);
	(void)r;
	_exit(1);
}

static void write_full(const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(0); /* the client is gone */
		p += w;
		n -= (size_t)w;
	}
}

/* Requests as read, the unhandled ones in [in_off, in_have): one whole frame of the largest
 * size and the start of the next. The client pipelines requests, so one read usually brings
 * several; they are handled in place and the rest moved to the front only before a read. */
#define IN_CAP (2 * (KG_PAC_FRAME_HDR + KG_PAC_BODY_MAX))
static uint8_t *in;
static size_t in_off, in_have;

/* The next request frame, whole, at in + in_off (its body length in *blen). 1, 0 on end of
 * input between frames; -1 on end of input inside one; -2 for a bad header. */
static int next_frame(size_t *blen)
{
	for (;;) {
		if (in_have - in_off >= KG_PAC_FRAME_HDR) {
			if (kg_pac_frame_body_len(in + in_off, blen) < 0)
				return -2;
			if (in_have - in_off >= KG_PAC_FRAME_HDR + *blen)
				return 1;
		}
		if (in_off > 0) {
			memmove(in, in + in_off, in_have - in_off);
			in_have -= in_off;
			in_off = 0;
		}
		ssize_t r = read(0, in + in_have, IN_CAP - in_have);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return in_have == 0 ? 0 : -1;
		in_have += (size_t)r;
	}
}

static void send_msg(const struct kg_pac_msg *m)
{
	ssize_t n = kg_pac_msg_encode(m, out_frame, sizeof(out_frame));
	if (n < 0)
		die("cannot encode an answer");
	write_full(out_frame, (size_t)n);
}

/* A text message: only these fields are read by the encoder (not the 18 KiB FIND table, so
 * it is not cleared for every answer). */
static void send_text_len(enum kg_pac_msg_type type, enum kg_pac_err kind, const char *text,
			  size_t len)
{
	struct kg_pac_msg m;
	m.type = type;
	m.err = kind;
	m.text = text;
	m.text_len = len;
	send_msg(&m);
}

static void send_text(enum kg_pac_msg_type type, enum kg_pac_err kind, const char *text)
{
	send_text_len(type, kind, text, strlen(text));
}

static void on_alert(void *ud, const char *msg, size_t len)
{
	send_text_len(KG_PAC_ALERT, 0, msg, len);
}

static void protocol_error(const char *sentence)
{
	send_text(KG_PAC_ERROR, KG_PAC_ERR_PROTOCOL, sentence);
	_exit(2);
}

static void selftest(const char *what)
{
	if (strcmp(what, "open") == 0) {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
		(void)fd;
	} else if (strcmp(what, "socket") == 0) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		(void)fd;
	} else if (strcmp(what, "exec") == 0) {
		char *argv[] = {(char *)"/bin/true", NULL};
		execv(argv[0], argv);
	} else if (strcmp(what, "mmap-exec") == 0) {
		void *p =
		    mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		(void)p;
	} else if (strcmp(what, "write-fd0") == 0) {
		ssize_t r = write(0, "x", 1);
		(void)r;
	} else {
		die("unknown self-test");
	}
	die("the sandbox did not stop the self-test's system call");
}

int main(int argc, char **argv)
{
	static char err[KG_PAC_RESULT_MAX + 1];
	const char *test = NULL;

	if (argc == 2 && strncmp(argv[1], "--selftest=", 11) == 0)
		test = argv[1] + 11;
	else if (argc != 1)
		die("usage: kernelgatekeeper-pac (spawned by kernelgatekeeper-client)");

	close_range(3, ~0u, 0);
	/* Duktape's Date calls mktime, hence tzset, which rereads the zone file on every call
	 * while TZ is unset (open: SIGSYS); with TZ set and unchanged, glibc keeps what it
	 * read here. */
	if (!getenv("TZ"))
		setenv("TZ", ":/etc/localtime", 1);
	tzset();
	struct kg_pac_js *js = kg_pac_js_new(KG_PAC_HEAP_MAX, on_alert, NULL);
	in = malloc(IN_CAP);
	if (!js || !in)
		die("out of memory at start-up");
	char why[256];
	if (kg_pac_sandbox_enter(why, sizeof(why)) < 0)
		die(why); /* never run unsandboxed */
	if (test)
		selftest(test);

	for (;;) {
		size_t len;
		struct kg_pac_msg m;
		enum kg_pac_err kind = KG_PAC_ERR_SCRIPT;

		int r = next_frame(&len);
		if (r == 0)
			_exit(0);
		if (r == -1)
			_exit(2);
		if (r == -2)
			protocol_error("message refused: frame length out of bounds");
		if (kg_pac_msg_decode(in + in_off + KG_PAC_FRAME_HDR, len, &m) < 0)
			protocol_error("message refused: malformed");

		if (m.type == KG_PAC_LOAD) {
			if (kg_pac_js_load(js, m.text, m.text_len, &kind, err, sizeof(err)) ==
			    KG_PAC_OK)
				send_text(KG_PAC_OK, 0, "");
			else
				send_text(KG_PAC_ERROR, kind, err);
		} else if (m.type == KG_PAC_FIND) {
			int t = kg_pac_js_find(js, &m.find, &kind, err, sizeof(err));
			send_text((enum kg_pac_msg_type)t, kind, err);
		} else {
			protocol_error("message refused: not a request");
		}
		/* Requests are answered in order, one at a time: each answer is written before the
		 * next request runs, so a request that loops never holds back the answers before
		 * it (the client's deadline is per request). */
		in_off += KG_PAC_FRAME_HDR + len;
	}
}
