/* PAC fetch: download one PAC file (or the first of a list of WPAD candidates) with libcurl,
 * off the event loop (pac_fetch.c).
 *
 * The rules are Chromium's (DESIGN.md §8):
 *   - never through any proxy: CURLOPT_PROXY "" and CURLOPT_NOPROXY "*", so neither the
 *     environment (http_proxy, ...) nor the relay itself is ever used;
 *   - http and https only, for the URL and for every redirect (at most KG_PAC_FETCH_MAX_REDIRS
 *     followed); https is verified against the system trust store (peer and host name);
 *   - the final answer must be HTTP 200: any other status is a failure, its body is not read;
 *   - at most KG_PAC_FETCH_MAX bytes of body (a longer one is aborted as soon as it is seen, or
 *     at once when its Content-Length says so);
 *   - each URL is bounded as a whole (name resolution, connect, redirects, body) by timeout_s.
 *
 * One fetch runs on a worker thread of its own that drives a curl multi handle, and hands its
 * result back through an eventfd the caller's loop watches (the model of authq.c). Fetches are
 * rare (at start, on a network change, on the retry schedule of wpad.h), so a thread per fetch
 * costs nothing that matters, keeps libcurl's blocking parts (the resolver's thread, TLS) away
 * from the relay loop, and needs no integration of curl's sockets and timers into loop.h.
 * Cancelling wakes the worker (curl_multi_wakeup) and joins it: it returns at once. A name
 * lookup that hangs is left behind on libcurl's resolver thread (CURLOPT_QUICK_EXIT), so
 * neither a timeout nor a cancel waits for it.
 *
 * Use from the loop thread:
 *     struct kg_pac_fetch *f = kg_pac_fetch_start(urls, n, timeout_s, done, ud);
 *     kg_loop_add(kg_pac_fetch_fd(f), &my_source, EPOLLIN);
 *     ... on EPOLLIN of that source: kg_pac_fetch_dispatch(f);   (calls done once, frees f)
 *     ... or, before done ran (reload, exit): kg_pac_fetch_cancel(f);   (done never runs)
 * The fd is closed when f is freed, which also removes it from the epoll set.
 * kg_pac_fetch_run() is the same fetch, blocking, on the caller's thread (tests, tools).
 *
 * WPAD discovery (kg_pac_fetch_start_list()): the candidates are made on the worker too,
 * before the first is fetched, as their sources block (lease files, resolv.conf, and
 * NetworkManager over D-Bus, nm_wpad.h, up to its own bound). A cancel while the list is
 * being made does not wait for it: the worker is left to finish it, then frees itself, and
 * nothing of it reaches the caller.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define KG_PAC_FETCH_MAX	 (1024 * 1024) /* bytes of a PAC file at most */
#define KG_PAC_FETCH_MAX_REDIRS	 10	       /* redirects followed at most */
#define KG_PAC_FETCH_MAX_URLS	 16	       /* candidates of one fetch at most */
#define KG_PAC_FETCH_URL_MAX	 2048	       /* bytes of one URL at most */
#define KG_PAC_FETCH_MSG_MAX	 512	       /* the one-line sentence, with its NUL */
#define KG_PAC_FETCH_TIMEOUT_MAX 3600	       /* seconds; timeout_s is clamped to 1..this */

struct kg_pac_fetch_result {
	/* 0: body holds the PAC (malloc'd, NUL-terminated after len bytes; the done function
	 * owns it and frees it with free()). Else -errno, body NULL:
	 *   -ENOENT          the server answered, but not HTTP 200 (404, 204, 500, ...)
	 *   -EFBIG           the body is larger than KG_PAC_FETCH_MAX
	 *   -ETIMEDOUT       not done within timeout_s
	 *   -EHOSTUNREACH    the host name does not resolve
	 *   -ECONNREFUSED    no connection to the host (refused, unreachable)
	 *   -ELOOP           more than KG_PAC_FETCH_MAX_REDIRS redirects
	 *   -EPROTONOSUPPORT not http or https (the URL or a redirect)
	 *   -EPROTO          TLS failed (certificate not trusted, wrong name, handshake)
	 *   -EINVAL          the URL is malformed (or the list empty or too long)
	 *   -ENODATA         kg_pac_fetch_start_list(): no candidate was found
	 *   -ENOMEM, -EIO    out of memory; any other transfer error */
	int r;
	char *body;
	size_t len;
	/* The candidate the result is about: the one that answered, or the one whose failure is
	 * reported (a failure beyond name resolution wins over "does not resolve", as it says
	 * more; else the last). */
	size_t url_index;
	long http_status; /* the final HTTP status seen, 0 when none */
	/* That candidate's URL, empty when there was none (a list that came out empty). */
	char url[KG_PAC_FETCH_URL_MAX];
	/* One sentence for the journal, printable ASCII, no newline, e.g.
	 * "PAC http://wpad.example.com/wpad.dat answered HTTP 404". Empty on success. */
	char msg[KG_PAC_FETCH_MSG_MAX];
};

struct kg_pac_fetch;

/* Called on the loop thread by kg_pac_fetch_dispatch(): res (and res->body) belong to it; the
 * fetch is freed after it returns. */
typedef void kg_pac_fetch_done_fn(void *ud, struct kg_pac_fetch_result *res);

/* Starts fetching urls[0..n-1] in order until one answers with a PAC (each URL within
 * timeout_s); the strings are copied. NULL with errno set when it cannot start (EINVAL for an
 * empty or too long list or URL, ENOMEM, or pthread/eventfd errors). */
struct kg_pac_fetch *kg_pac_fetch_start(const char *const *urls, size_t n, unsigned timeout_s,
					kg_pac_fetch_done_fn *done, void *ud);
/* Makes the candidates, on the worker thread: fills urls[0..max) with malloc'd strings (the
 * fetch frees them, and skips any that kg_pac_fetch_start() would refuse) and returns how
 * many; 0 when there is none, with one sentence in msg (msg_sz bytes) that says why. It may
 * block for a bounded time; arg must stay valid even after a cancel (static data). */
typedef size_t kg_pac_fetch_list_fn(void *arg, char **urls, size_t max, char *msg, size_t msg_sz);

/* As kg_pac_fetch_start(), with the candidates list(arg) makes on the worker (at most
 * KG_PAC_FETCH_MAX_URLS). When it makes none, done gets r -ENODATA and list's sentence. */
struct kg_pac_fetch *kg_pac_fetch_start_list(kg_pac_fetch_list_fn *list, void *arg,
					     unsigned timeout_s, kg_pac_fetch_done_fn *done,
					     void *ud);
/* The eventfd to watch for EPOLLIN. */
int kg_pac_fetch_fd(const struct kg_pac_fetch *f);
/* The fd fired: when the worker has finished, joins it, calls done and frees f, and returns
 * true (f is gone). false: not finished yet (a spurious wakeup), f stays. */
bool kg_pac_fetch_dispatch(struct kg_pac_fetch *f);
/* Stops the fetch (the worker returns at once), frees f; done is never called. NULL is a
 * no-op. */
void kg_pac_fetch_cancel(struct kg_pac_fetch *f);

/* The same fetch, blocking on the caller's thread. Fills *res; returns res->r. */
int kg_pac_fetch_run(const char *const *urls, size_t n, unsigned timeout_s,
		     struct kg_pac_fetch_result *res);
