/* PAC fetch with libcurl on a worker thread, result through an eventfd (see pac_fetch.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <curl/curl.h>

#include "client/route/pac_fetch.h"

#define URL_SHOWN 160 /* bytes of a URL quoted in a message, then "..." */

struct kg_pac_fetch {
	pthread_t thread;
	int efd;
	CURLM *multi; /* made before the worker starts, so cancel can wake it */
	atomic_bool abort, finished;
	kg_pac_fetch_done_fn *done;
	void *ud;
	unsigned timeout_s;
	size_t n;
	char *urls[KG_PAC_FETCH_MAX_URLS];
	struct kg_pac_fetch_result res;
	/* kg_pac_fetch_start_list(): the worker makes urls first. While listing, a cancel
	 * orphans f instead of joining (under lock); the worker frees an orphan. */
	kg_pac_fetch_list_fn *list;
	void *list_arg;
	pthread_mutex_t lock;
	bool listing, orphaned;
};

/* One transfer's state, for the write callback. */
struct xfer {
	CURL *easy;
	char *buf;
	size_t len, cap;
	bool too_large, not_ok;
	const atomic_bool *abort;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Printable ASCII only: whatever a URL or libcurl put there, the journal gets one line. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

static void show_url(char *out, size_t sz, const char *url)
{
	size_t n = strnlen(url, URL_SHOWN + 1);

	if (n > URL_SHOWN)
		snprintf(out, sz, "%.*s...", URL_SHOWN, url);
	else
		snprintf(out, sz, "%s", url);
	sanitize(out);
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;
	char *nb;
	size_t ncap;

	/* A body of anything but the final 200 is never read (redirect bodies are skipped by
	 * libcurl itself while it follows them). */
	(void)curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		x->not_ok = true;
		return 0;
	}
	if (n > KG_PAC_FETCH_MAX - x->len) {
		x->too_large = true;
		return 0;
	}
	if (x->len + n + 1 > x->cap) {
		ncap = x->cap ? x->cap : 16384;
		while (ncap < x->len + n + 1)
			ncap *= 2;
		if (ncap > KG_PAC_FETCH_MAX + 1)
			ncap = KG_PAC_FETCH_MAX + 1;
		nb = realloc(x->buf, ncap);
		if (!nb)
			return 0;
		x->buf = nb;
		x->cap = ncap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	const struct xfer *x = ud;

	return atomic_load(x->abort) ? 1 : 0;
}

/* The result of one transfer: r, msg and http_status of res. */
static void classify(CURLcode cc, const struct xfer *x, long status, const char *url,
		     unsigned timeout_s, const char *errbuf, struct kg_pac_fetch_result *res)
{
	char u[URL_SHOWN + 8];
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);

	show_url(u, sizeof(u), url);
	res->http_status = status;
	res->msg[0] = '\0';
	if (cc == CURLE_TOO_MANY_REDIRECTS) {
		res->r = -ELOOP;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: more than %d redirects", u,
			 KG_PAC_FETCH_MAX_REDIRS);
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		res->r = -ECANCELED;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: fetch cancelled", u);
	} else if (status != 0 && status != 200 &&
		   (cc == CURLE_OK || x->not_ok || cc == CURLE_FILESIZE_EXCEEDED ||
		    cc == CURLE_WRITE_ERROR)) {
		res->r = -ENOENT;
		snprintf(res->msg, sizeof(res->msg), "PAC %s answered HTTP %ld", u, status);
	} else if (x->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		res->r = -EFBIG;
		snprintf(res->msg, sizeof(res->msg), "PAC %s is larger than 1 MiB", u);
	} else if (cc == CURLE_OK && status == 200) {
		res->r = 0;
	} else if (cc == CURLE_OK) {
		res->r = -ENOENT;
		snprintf(res->msg, sizeof(res->msg), "PAC %s gave no HTTP answer", u);
	} else if (cc == CURLE_OPERATION_TIMEDOUT) {
		res->r = -ETIMEDOUT;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: not fetched within %u s", u,
			 timeout_s);
	} else if (cc == CURLE_COULDNT_RESOLVE_HOST) {
		res->r = -EHOSTUNREACH;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: its host name does not resolve", u);
	} else if (cc == CURLE_COULDNT_CONNECT) {
		res->r = -ECONNREFUSED;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: cannot connect: %s", u, why);
	} else if (cc == CURLE_UNSUPPORTED_PROTOCOL) {
		res->r = -EPROTONOSUPPORT;
		snprintf(res->msg, sizeof(res->msg),
			 "PAC %s: only http and https are fetched (the URL or a redirect)", u);
	} else if (cc == CURLE_URL_MALFORMAT) {
		res->r = -EINVAL;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: malformed URL", u);
	} else if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
		   cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CERTPROBLEM ||
		   cc == CURLE_SSL_CIPHER || cc == CURLE_SSL_ISSUER_ERROR) {
		res->r = -EPROTO;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: TLS failed: %s", u, why);
	} else if (cc == CURLE_OUT_OF_MEMORY || (cc == CURLE_WRITE_ERROR && !x->not_ok)) {
		res->r = -ENOMEM;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: out of memory", u);
	} else {
		res->r = -EIO;
		snprintf(res->msg, sizeof(res->msg), "PAC %s: %s", u, why);
	}
	sanitize(res->msg);
}

static CURL *easy_new(const char *url, unsigned timeout_s, struct xfer *x, char *errbuf)
{
	CURL *e = curl_easy_init();
	bool ok;

	if (!e)
		return NULL;
	x->easy = e;
	/* Every option is checked: one that does not take (an old libcurl) must not leave a
	 * fetch that could go through a proxy or follow a file:// redirect. */
	ok = curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
	     /* A name lookup that hangs (an unreachable DNS server) is left to finish on the
	      * resolver's own thread: without this, cleaning up after the timeout or a cancel
	      * would wait for it, beyond pac_timeout. */
	     curl_easy_setopt(e, CURLOPT_QUICK_EXIT, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_PROXY, "") == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_MAXREDIRS, (long)KG_PAC_FETCH_MAX_REDIRS) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)timeout_s) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)KG_PAC_FETCH_MAX) ==
		 CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_WRITEDATA, x) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_XFERINFODATA, x) == CURLE_OK &&
	     curl_easy_setopt(e, CURLOPT_USERAGENT, "kernelgatekeeper-client") == CURLE_OK;
	if (!ok) {
		curl_easy_cleanup(e);
		return NULL;
	}
	return e;
}

/* One URL through multi m, until done, timed out or aborted. */
static void fetch_one(CURLM *m, const char *url, unsigned timeout_s, const atomic_bool *abort,
		      struct kg_pac_fetch_result *res)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct xfer x = {.abort = abort};
	CURLcode cc = CURLE_FAILED_INIT;
	CURLMsg *msg;
	long status = 0;
	int running = 1, left;
	CURL *e;

	res->body = NULL;
	res->len = 0;
	e = easy_new(url, timeout_s, &x, errbuf);
	if (!e || curl_multi_add_handle(m, e) != CURLM_OK) {
		if (e)
			curl_easy_cleanup(e);
		classify(CURLE_OUT_OF_MEMORY, &x, 0, url, timeout_s, "", res);
		return;
	}
	while (running) {
		if (atomic_load(abort)) {
			cc = CURLE_ABORTED_BY_CALLBACK;
			break;
		}
		if (curl_multi_perform(m, &running) != CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
		if (!running)
			break;
		/* curl_multi_wakeup() from cancel ends the wait early. */
		if (curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK) {
			cc = CURLE_FAILED_INIT;
			break;
		}
	}
	while ((msg = curl_multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == e)
			cc = msg->data.result;
	(void)curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	curl_multi_remove_handle(m, e);
	curl_easy_cleanup(e);
	classify(cc, &x, status, url, timeout_s, errbuf, res);
	if (res->r == 0) {
		if (!x.buf) {
			x.buf = malloc(1);
			if (!x.buf) {
				classify(CURLE_OUT_OF_MEMORY, &x, status, url, timeout_s, "", res);
				return;
			}
		}
		x.buf[x.len] = '\0';
		res->body = x.buf;
		res->len = x.len;
	} else {
		free(x.buf);
	}
}

static int rank(int r)
{
	return r == -EHOSTUNREACH ? 0 : 1;
}

/* The candidates in order until one answers; res as pac_fetch.h says. */
static void fetch_all(CURLM *m, char *const *urls, size_t n, unsigned timeout_s,
		      const atomic_bool *abort, struct kg_pac_fetch_result *res)
{
	struct kg_pac_fetch_result one;
	bool have = false;

	memset(res, 0, sizeof(*res));
	for (size_t i = 0; i < n; i++) {
		memset(&one, 0, sizeof(one));
		fetch_one(m, urls[i], timeout_s, abort, &one);
		one.url_index = i;
		if (one.r == 0 || one.r == -ECANCELED || !have || rank(one.r) >= rank(res->r)) {
			*res = one;
			have = true;
		}
		if (one.r == 0 || one.r == -ECANCELED)
			break;
	}
	if (have)
		snprintf(res->url, sizeof(res->url), "%s", urls[res->url_index]);
}

static int check_args(const char *const *urls, size_t n, unsigned *timeout_s)
{
	if (!urls || n == 0 || n > KG_PAC_FETCH_MAX_URLS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!urls[i] || !urls[i][0] ||
		    strnlen(urls[i], KG_PAC_FETCH_URL_MAX) >= KG_PAC_FETCH_URL_MAX)
			return -EINVAL;
	if (*timeout_s < 1)
		*timeout_s = 1;
	if (*timeout_s > KG_PAC_FETCH_TIMEOUT_MAX)
		*timeout_s = KG_PAC_FETCH_TIMEOUT_MAX;
	pthread_once(&curl_once, curl_init_once);
	return curl_init_rc == CURLE_OK ? 0 : -ENOMEM;
}

int kg_pac_fetch_run(const char *const *urls, size_t n, unsigned timeout_s,
		     struct kg_pac_fetch_result *res)
{
	atomic_bool never = false;
	char *copy[KG_PAC_FETCH_MAX_URLS];
	CURLM *m;
	int r;

	memset(res, 0, sizeof(*res));
	r = check_args(urls, n, &timeout_s);
	if (r < 0) {
		res->r = r;
		snprintf(res->msg, sizeof(res->msg), "PAC fetch: %s",
			 r == -EINVAL ? "no URL, too many or too long" : "libcurl failed to start");
		return r;
	}
	m = curl_multi_init();
	if (!m) {
		res->r = -ENOMEM;
		snprintf(res->msg, sizeof(res->msg), "PAC fetch: out of memory");
		return res->r;
	}
	for (size_t i = 0; i < n; i++)
		copy[i] = (char *)urls[i];
	fetch_all(m, copy, n, timeout_s, &never, res);
	curl_multi_cleanup(m);
	return res->r;
}

static void fetch_free(struct kg_pac_fetch *f);

/* The candidates of list into f->urls; false when f was orphaned meanwhile (and is freed). */
static bool make_list(struct kg_pac_fetch *f)
{
	char *got[KG_PAC_FETCH_MAX_URLS] = {NULL};
	size_t n, k;
	bool orphaned;

	n = f->list(f->list_arg, got, KG_PAC_FETCH_MAX_URLS, f->res.msg, sizeof(f->res.msg));
	if (n > KG_PAC_FETCH_MAX_URLS)
		n = KG_PAC_FETCH_MAX_URLS;
	for (k = 0; k < n; k++) {
		if (got[k] && got[k][0] &&
		    strnlen(got[k], KG_PAC_FETCH_URL_MAX) < KG_PAC_FETCH_URL_MAX)
			f->urls[f->n++] = got[k];
		else
			free(got[k]);
	}
	pthread_mutex_lock(&f->lock);
	f->listing = false;
	orphaned = f->orphaned;
	pthread_mutex_unlock(&f->lock);
	if (orphaned) {
		fetch_free(f);
		return false;
	}
	if (f->n == 0) {
		f->res.r = -ENODATA;
		if (!f->res.msg[0])
			snprintf(f->res.msg, sizeof(f->res.msg), "WPAD found no candidate");
		sanitize(f->res.msg);
	} else {
		f->res.msg[0] = '\0';
	}
	return true;
}

static void *worker(void *arg)
{
	struct kg_pac_fetch *f = arg;
	uint64_t one = 1;

	if (f->list && !make_list(f))
		return NULL;
	if (f->n > 0)
		fetch_all(f->multi, f->urls, f->n, f->timeout_s, &f->abort, &f->res);
	atomic_store(&f->finished, true);
	(void)!write(f->efd, &one, sizeof(one));
	return NULL;
}

static void fetch_free(struct kg_pac_fetch *f)
{
	if (f->multi)
		curl_multi_cleanup(f->multi);
	if (f->efd >= 0)
		close(f->efd);
	for (size_t i = 0; i < f->n; i++)
		free(f->urls[i]);
	free(f->res.body);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* f with its eventfd, multi handle and worker; NULL with errno set (f freed). */
static struct kg_pac_fetch *fetch_launch(struct kg_pac_fetch *f)
{
	int r;

	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	f->multi = curl_multi_init();
	if (f->efd < 0 || !f->multi) {
		r = f->efd < 0 ? errno : ENOMEM;
		fetch_free(f);
		errno = r;
		return NULL;
	}
	r = pthread_create(&f->thread, NULL, worker, f);
	if (r != 0) {
		fetch_free(f);
		errno = r;
		return NULL;
	}
	return f;
}

static struct kg_pac_fetch *fetch_new(unsigned timeout_s, kg_pac_fetch_done_fn *done, void *ud)
{
	struct kg_pac_fetch *f = calloc(1, sizeof(*f));

	if (!f) {
		errno = ENOMEM;
		return NULL;
	}
	f->efd = -1;
	f->done = done;
	f->ud = ud;
	f->timeout_s = timeout_s;
	atomic_init(&f->abort, false);
	atomic_init(&f->finished, false);
	pthread_mutex_init(&f->lock, NULL);
	return f;
}

struct kg_pac_fetch *kg_pac_fetch_start(const char *const *urls, size_t n, unsigned timeout_s,
					kg_pac_fetch_done_fn *done, void *ud)
{
	struct kg_pac_fetch *f;
	int r;

	r = check_args(urls, n, &timeout_s);
	if (r < 0 || !done) {
		errno = r < 0 ? -r : EINVAL;
		return NULL;
	}
	f = fetch_new(timeout_s, done, ud);
	if (!f)
		return NULL;
	for (; f->n < n; f->n++) {
		f->urls[f->n] = strdup(urls[f->n]);
		if (!f->urls[f->n]) {
			fetch_free(f);
			errno = ENOMEM;
			return NULL;
		}
	}
	return fetch_launch(f);
}

struct kg_pac_fetch *kg_pac_fetch_start_list(kg_pac_fetch_list_fn *list, void *arg,
					     unsigned timeout_s, kg_pac_fetch_done_fn *done,
					     void *ud)
{
	static const char *const probe[] = {"http://localhost/"};
	struct kg_pac_fetch *f;
	int r;

	/* The list is not known yet: check the rest (and start libcurl) with a stand-in. */
	r = check_args(probe, 1, &timeout_s);
	if (r < 0 || !done || !list) {
		errno = r < 0 ? -r : EINVAL;
		return NULL;
	}
	f = fetch_new(timeout_s, done, ud);
	if (!f)
		return NULL;
	f->list = list;
	f->list_arg = arg;
	f->listing = true;
	return fetch_launch(f);
}

int kg_pac_fetch_fd(const struct kg_pac_fetch *f)
{
	return f->efd;
}

bool kg_pac_fetch_dispatch(struct kg_pac_fetch *f)
{
	uint64_t v;

	(void)!read(f->efd, &v, sizeof(v));
	if (!atomic_load(&f->finished))
		return false;
	pthread_join(f->thread, NULL);
	f->done(f->ud, &f->res);
	f->res.body = NULL; /* the done function's now */
	fetch_free(f);
	return true;
}

void kg_pac_fetch_cancel(struct kg_pac_fetch *f)
{
	if (!f)
		return;
	atomic_store(&f->abort, true);
	pthread_mutex_lock(&f->lock);
	if (f->listing) {
		/* The list may block for a while (D-Bus): the worker frees f when it is made. */
		f->orphaned = true;
		pthread_mutex_unlock(&f->lock);
		pthread_detach(f->thread);
		return;
	}
	pthread_mutex_unlock(&f->lock);
	curl_multi_wakeup(f->multi);
	pthread_join(f->thread, NULL);
	fetch_free(f);
}
