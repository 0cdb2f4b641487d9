/* Tunnel setup: name, then the upstream's connect and CONNECT + Negotiate (see tunnel.h).
 *
 * The upstream's TCP connect and the token (made by the Kerberos worker) start at accept and run
 * concurrently with the wait for the application's first bytes (neither needs the destination's
 * name), or the connection comes ready, with its token, from the warm pool (warm.h); the CONNECT
 * goes out when the name, the connection and the token are all there. The token
 * is sent preemptively (RFC 4559 §4.2 allows it and it saves a round trip). When no token can be
 * made the CONNECT goes out without one: a proxy that needs no authentication still works, and one
 * that answers 407 gets the Kerberos sentence ("no Kerberos ticket: run kinit") reported. The
 * answer is read by the upstream (upstream.h), which takes only its head from the socket: the
 * tunnel's first bytes (a server-first banner) stay where the relay finds them.
 *
 * On a TLS port whose address the user's last connections reached under one name (name_guess.h),
 * the CONNECT goes out under that name without waiting for the ClientHello, so the proxy's round
 * trip overlaps the application's TLS set-up. The tunnel opened on a guess carries nothing until
 * the ClientHello has confirmed the name; another name, none, or no ClientHello within the sniff
 * wait discards that tunnel and sets the connection up afresh under what it really named (a
 * refused guess likewise), so a guess never changes where the bytes go. Not with a PAC: the
 * route depends on the name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "client/ipc_report.h"
#include "client/name_guess.h"
#include "client/policy.h"
#include "client/proto/sniff.h"
#include "client/tunnel.h"
#include "client/upstream.h"
#include "shared/log.h"
#include "shared/netutil.h"

/* Lives while a connection is being set up. */
struct tunnel_setup {
	struct upstream up;	 /* the way out; up.host is the destination's name: sniffed, or
				  * the IP literal */
	bool named;		 /* up.host is final */
	uint64_t sniff_deadline; /* end of the first-byte wait, while not named */
	bool failed;		 /* up.error says why; reported once named */
	/* proxy.type wpad: the route comes from the PAC once the name is known (policy.h), and
	 * only then do the connect and the token start. */
	bool pac;		    /* the route is the PAC's */
	bool routed;		    /* route is set (or the way out failed) */
	bool guessed;		    /* route is policy_last_route()'s, its token under way */
	struct policy_job *pac_job; /* the PAC's answer is pending */
	struct kg_route *route;	    /* the PAC's route, walked by up */
	uint8_t route_src;	    /* enum ipc_route_source, for the route report */
	/* The CONNECT may go out under guess before the name is known (name_guess.h); held: its
	 * tunnel is open and waits for the ClientHello to confirm the name. */
	bool guessing, held;
	char guess[KG_HOST_MAX];
};

void tunnel_setup_free(struct tunnel_setup *t)
{
	if (!t)
		return;
	if (t->pac_job)
		policy_cancel(t->up.cl, t->pac_job);
	upstream_cleanup(&t->up);
	free(t->route);
	free(t);
}

/* A tunnel's way out, fresh: the one at accept, and again when a route or a name changes. */
static void setup_upstream(struct kg_client *cl, struct relay_conn *c)
{
	upstream_init(&c->setup->up, cl, c);
	c->setup->up.may_warm = true; /* a tunnel's CONNECT may go out on a warm connection */
	c->setup->up.may_go_tokenless = true; /* a 407 to a CONNECT without a token is retried */
}

static void fail(struct kg_client *cl, struct relay_conn *c, const char *sentence,
		 const char *detail)
{
	ipc_report_route(cl, c, c->setup ? &c->setup->up : NULL,
			 c->setup ? c->setup->route_src : IPC_ROUTE_SETTINGS, sentence);
	upstream_log_failure(cl, c, c->setup ? &c->setup->up : NULL, sentence,
			     detail); /* counts the failure */
	relay_conn_close(cl, c, false);
}

static void drop_guess(struct kg_client *cl, struct relay_conn *c, const char *why);

/* The upstream failed: its sentence and detail. A CONNECT under a guessed name is asked again
 * under the name the application gives (the proxy may refuse only the guess). */
static void fail_upstream(struct kg_client *cl, struct relay_conn *c)
{
	struct upstream *u = &c->setup->up;

	if (c->setup->guessing && !c->setup->named) {
		drop_guess(cl, c, u->error);
		return;
	}
	fail(cl, c, u->error, u->detail[0] ? u->detail : NULL);
}

/* --- the CONNECT exchange ------------------------------------------------------------------- */

static void confirm_guess(struct kg_client *cl, struct relay_conn *c, bool final);

/* The tunnel is open: its route is reported, and the relay starts (freeing c->setup). One
 * opened under a guessed name first waits for the ClientHello to confirm it. */
static void opened(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	if (t->guessing && !t->named) {
		t->held = true;
		c->state = CONN_SNIFF;
		confirm_guess(cl, c, false);
		return;
	}
	ipc_report_route(cl, c, &c->setup->up, c->setup->route_src, NULL);
	relay_start(cl, c);
}

/* 0, or -errno when it failed: then c is closed and c->setup freed. */
static int send_connect(struct kg_client *cl, struct relay_conn *c)
{
	int r = upstream_send_connect(&c->setup->up);

	if (r < 0) {
		fail_upstream(cl, c);
		return r;
	}
	if (r == 1) { /* nothing to ask: the connection is the tunnel */
		opened(cl, c);
		return 0;
	}
	/* A warm connection that failed: a new one is being made. */
	c->state = r == UPSTREAM_RECONNECTING ? CONN_CONNECTING : CONN_PROXY_HEAD;
	return 0;
}

/* --- setting up: the name, the connection and the token, in any order ----------------------- */

/* The proxy connection and the token depend on the proxy only (the SPN is the proxy's), not on
 * the destination's name, so both start at accept and overlap the wait for the application's
 * first bytes; for proxy.type none the connect needs only the original destination. -errno with
 * up.error set when the way out cannot even start. */
static int start_way_out(struct relay_conn *c)
{
	struct upstream *u = &c->setup->up;
	int r;

	/* The connect first: a warm connection (warm.h) comes with a token of its own. */
	r = upstream_connect(u);
	if (r < 0)
		return r;
	if (upstream_wants_token(u) && !u->tok.job && !u->token_ready)
		r = upstream_request_token(u);
	return r;
}

/* The name is final: sniffed, or the IP literal. */
static void set_named(struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	t->named = true;
	t->guessing = false;
	upstream_set_target(&t->up, t->up.host, c->dst_port);
	c->state = CONN_CONNECTING;
}

/* One timer per connection: the earliest of the first-byte wait and the upstream's (its
 * connect's deadline or the token's). */
static void setup_arm_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	uint64_t at = t->failed || t->held ? 0 : upstream_due(&t->up);

	if (!t->named && (!at || t->sniff_deadline < at))
		at = t->sniff_deadline;
	relay_set_timer(cl, c, at);
}

/* --- the PAC's route (proxy.type wpad) ------------------------------------------------------- */

static void setup_advance(struct kg_client *cl, struct relay_conn *c);

/* The PAC answered (status 0, route), or failed (-errno, why): the way out starts, or the
 * connection follows proxy.fallback. */
static void route_ready(struct kg_client *cl, struct relay_conn *c, int status,
			const struct kg_route *route, const char *why)
{
	struct tunnel_setup *t = c->setup;
	struct kg_route direct = {.n = 1, .e = {{.kind = KG_ROUTE_DIRECT}}};
	char sentence[UPSTREAM_REASON_MAX];

	t->pac_job = NULL;
	t->routed = true;
	t->route_src = status < 0 ? IPC_ROUTE_PAC_FALLBACK : IPC_ROUTE_PAC;
	if (status < 0) {
		if (c->set->cfg.proxy.fallback != KG_FALLBACK_DIRECT) {
			snprintf(sentence, sizeof(sentence), "the PAC gave no route: %s", why);
			fail(cl, c, sentence, NULL);
			return;
		}
		log_info_ratelimited("the PAC gave no route for %s (%s): DIRECT (proxy.fallback)",
				     t->up.host, why);
		route = &direct;
	} else if (why && why[0]) {
		log_info_ratelimited("PAC for %s: %s", t->up.host, why);
	}
	if (t->guessed && !kg_route_equal(t->route, route)) {
		/* Not the route guessed at accept: drop its token, start afresh. */
		char host[KG_HOST_MAX];

		snprintf(host, sizeof(host), "%s", t->up.host);
		upstream_cleanup(&t->up);
		setup_upstream(cl, c);
		upstream_set_target(&t->up, host, c->dst_port);
		free(t->route);
		t->route = NULL;
	}
	if (!t->route) {
		t->route = malloc(sizeof(*t->route));
		if (!t->route) {
			relay_conn_close(cl, c, true);
			return;
		}
		*t->route = *route;
		upstream_set_route(&t->up, t->route);
	}
	if (start_way_out(c) < 0)
		t->failed = true;
	setup_advance(cl, c);
}

static void on_route(void *ud, int status, const struct kg_route *route, const char *why)
{
	struct relay_conn *c = ud;

	route_ready(c->setup->up.cl, c, status, route, why);
}

/* The URL FindProxyForURL gets for a tunnel: https://host/ on 443, as browsers strip the
 * path; the port is written when it is another. */
static void tunnel_url(const struct relay_conn *c, const char *host, char *buf, size_t len)
{
	bool v6 = strchr(host, ':') != NULL;

	if (c->dst_port == 443)
		snprintf(buf, len, "https://%s%s%s/", v6 ? "[" : "", host, v6 ? "]" : "");
	else
		snprintf(buf, len, "https://%s%s%s:%u/", v6 ? "[" : "", host, v6 ? "]" : "",
			 c->dst_port);
}

static void ask_route(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	char url[KG_HOST_MAX + 16];
	struct kg_route route;
	int r;

	tunnel_url(c, t->up.host, url, sizeof(url));
	r = policy_find(cl, url, t->up.host, c->dst_ip, c->dst_port, &route, on_route, c,
			&t->pac_job);
	if (r == 1)
		route_ready(cl, c, 0, &route, "");
	else if (r < 0)
		route_ready(cl, c, r, NULL, strerror(-r));
	else
		setup_arm_timer(cl, c);
}

/* Go once the name, the connection and the token (none for proxy.type none) are all in. A
 * failure before the name is known waits for it, so the journal line names the host the user
 * asked for. */
static void setup_advance(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	struct upstream *u = &t->up;

	if (t->named && t->failed) {
		fail(cl, c, u->error, NULL);
		return;
	}
	if (t->pac && !t->routed) {
		if (t->named && !t->pac_job)
			ask_route(cl, c); /* may close c */
		else
			setup_arm_timer(cl, c);
		return;
	}
	if ((t->named || t->guessing) && !t->failed && u->connected &&
	    (!upstream_wants_token(u) || u->token_ready)) {
		if (!t->named)
			upstream_set_target(u, t->guess, c->dst_port);
		(void)send_connect(cl, c);
		return;
	}
	setup_arm_timer(cl, c);
}

static void setup_begin(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;

	if (t->pac) {
		/* The way out starts once the PAC has answered; the token for the route it gave
		 * last is made meanwhile (kept when the answer is the same). */
		if (t->guessed && upstream_wants_token(&t->up) &&
		    upstream_request_token(&t->up) < 0)
			t->guessed = false; /* none now: made once routed */
		setup_advance(cl, c);
		return;
	}
	if (start_way_out(c) < 0)
		c->setup->failed = true;
	setup_advance(cl, c);
}

static void guess_deadline(struct kg_client *cl, struct relay_conn *c);

static void setup_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

	if (t->held) {
		if (now >= t->sniff_deadline)
			confirm_guess(cl, c, true);
		else
			setup_arm_timer(cl, c);
		return;
	}
	if (!t->named && now >= t->sniff_deadline) {
		if (t->guessing) {
			/* The CONNECT under the guess is not answered (or not sent) yet: what the
			 * application named by now decides. */
			guess_deadline(cl, c);
			return;
		}
		set_named(c); /* no name within the wait: go by IP */
	}
	if (!t->failed && upstream_on_timer(&t->up, now) < 0)
		t->failed = true;
	setup_advance(cl, c);
}

/* Peek at what the application sent so far; 1 when naming is finished, with the name in host
 * ("" when its bytes name none: then the IP literal stays). */
static int sniff(struct relay_conn *c, bool final, char host[KG_HOST_MAX])
{
	uint16_t port = 0;
	ssize_t n;
	int r;

	host[0] = '\0';
	n = recv(c->app.fd, relay_scratch, KG_SNIFF_MAX, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0) {
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return -ECONNRESET; /* the app left before saying anything */
		return final ? 1 : 0;
	}
	if (relay_scratch[0] == 0x16)
		r = kg_sniff_tls_sni(relay_scratch, (size_t)n, host, KG_HOST_MAX);
	else
		r = kg_sniff_http_host(relay_scratch, (size_t)n, host, KG_HOST_MAX, &port);
	if (r == -EAGAIN && !final && n < KG_SNIFF_MAX)
		return 0;
	if (r != 1)
		host[0] = '\0';
	return 1;
}

/* Naming is finished with host (sniff()): the upstream's name, and what name_guess.h learns
 * on ports where the client speaks first. */
static void name_from(struct relay_conn *c, const char *host)
{
	if (host[0])
		snprintf(c->setup->up.host, sizeof(c->setup->up.host), "%s", host);
	if (c->state == CONN_SNIFF)
		name_guess_note(c->dst_ip, c->dst_port, host, kg_now_usec(CLOCK_MONOTONIC));
}

/* --- the CONNECT sent before the ClientHello, under a guessed name -------------------------- */

/* Set c up afresh: a new upstream (the guess's connection closed, its token dropped); named
 * with host ("" the IP literal), or when host is NULL back to waiting for the first bytes
 * within what is left of the sniff wait. */
static void setup_again(struct kg_client *cl, struct relay_conn *c, const char *host)
{
	struct tunnel_setup *t = c->setup;

	upstream_close(&t->up);
	upstream_cleanup(&t->up);
	setup_upstream(cl, c);
	t->guessing = t->held = t->failed = false;
	if (host) {
		if (host[0])
			snprintf(t->up.host, sizeof(t->up.host), "%s", host);
		set_named(c);
	} else {
		c->state = CONN_SNIFF;
	}
	setup_begin(cl, c);
	if (!host && !c->dead && c->setup == t && c->state == CONN_SNIFF)
		tunnel_on_app(cl, c); /* the ClientHello may be there already */
}

/* The tunnel under the guess failed, before its answer or with it: again under the real name. */
static void drop_guess(struct kg_client *cl, struct relay_conn *c, const char *why)
{
	log_debug("CONNECT %s sent before the ClientHello failed (%s): asking again once the "
		  "application names its host",
		  c->setup->up.target, why);
	name_guess_outcome(0);
	setup_again(cl, c, NULL);
}

/* The application named host (sniff()) while its CONNECT went out under the guess: learnt and
 * counted; true when it is the guess, which is then the name (up.host and up.target already
 * say it, and a failure is final); else c is set up afresh under host. */
static bool guess_judged(struct kg_client *cl, struct relay_conn *c, const char *host)
{
	struct tunnel_setup *t = c->setup;

	name_guess_note(c->dst_ip, c->dst_port, host, kg_now_usec(CLOCK_MONOTONIC));
	if (strcmp(host, t->guess) == 0) {
		name_guess_outcome(1);
		t->named = true;
		t->guessing = t->held = false;
		return true;
	}
	log_debug("CONNECT %s sent before the ClientHello, which names %s: asking again",
		  t->up.target, host[0] ? host : "no host");
	name_guess_outcome(0);
	setup_again(cl, c, host);
	return false;
}

/* The sniff wait ended while the CONNECT under the guess is not answered (or not sent): the
 * name is what the application sent by now. */
static void guess_deadline(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t = c->setup;
	char host[KG_HOST_MAX];

	if (sniff(c, true, host) < 0) {
		relay_conn_close(cl, c, false); /* the app left before saying anything */
		return;
	}
	if (!guess_judged(cl, c, host))
		return;
	snprintf(t->up.host, sizeof(t->up.host), "%s", host);
	set_named(c);
	setup_advance(cl, c);
}

/* The ClientHello came while the CONNECT under the guess waits for its answer (or for a new
 * connection): another name does not wait for the proxy's answer to the guess (Squid answers a
 * CONNECT only once it has reached the host: a slow or silent one must not delay the right one).
 */
static void check_guess(struct kg_client *cl, struct relay_conn *c)
{
	char host[KG_HOST_MAX];

	/* More to come, or an app that left: noticed when the tunnel starts. */
	if (sniff(c, false, host) > 0)
		(void)guess_judged(cl, c, host);
}

/* The tunnel under the guess is open: the ClientHello must name the same host (final: the
 * sniff wait is over). */
static void confirm_guess(struct kg_client *cl, struct relay_conn *c, bool final)
{
	char host[KG_HOST_MAX];
	int r = sniff(c, final, host);

	if (r < 0)
		relay_conn_close(cl, c, false); /* the app left before saying anything */
	else if (r == 0)
		setup_arm_timer(cl, c);
	else if (guess_judged(cl, c, host))
		opened(cl, c);
}

/* Ports where the client speaks first with a TLS ClientHello (implicit TLS). */
static bool port_is_tls(uint16_t port)
{
	static const uint16_t tls[] = {443, 465, 636, 853, 990, 992, 993, 995, 5061, 6697, 8443};
	size_t i;

	for (i = 0; i < sizeof(tls) / sizeof(tls[0]); i++)
		if (tls[i] == port)
			return true;
	return false;
}

void tunnel_accepted(struct kg_client *cl, struct relay_conn *c)
{
	struct tunnel_setup *t;
	bool sniffing =
	    c->set->cfg.client.sniff_hostname && c->set->cfg.proxy.type != KG_PROXY_NONE;

	t = calloc(1, sizeof(*t));
	if (!t) {
		relay_conn_close(cl, c, true);
		return;
	}
	c->setup = t;
	setup_upstream(cl, c);
	t->pac = policy_uses_pac(cl);
	if (t->pac && policy_last_route(cl)) {
		t->route = malloc(sizeof(*t->route));
		if (t->route) {
			*t->route = *policy_last_route(cl);
			upstream_set_route(&t->up, t->route);
			t->guessed = true;
		}
	}
	if (sniffing && port_is_tls(c->dst_port)) {
		/* The client speaks first: wait a little for its ClientHello, unless the address's
		 * name can be guessed (the CONNECT then goes out meanwhile). */
		uint64_t now = kg_now_usec(CLOCK_MONOTONIC);

		c->state = CONN_SNIFF;
		t->sniff_deadline = now + CLIENT_SNIFF_WAIT_MS * 1000ull;
		t->guessing = !t->pac && name_guess_get(c->dst_ip, c->dst_port, now, t->guess,
							sizeof(t->guess)) == 1;
		setup_begin(cl, c);
		if (!c->dead && c->setup == t && c->state == CONN_SNIFF)
			tunnel_on_app(cl, c);
		return;
	}
	/* Maybe server-speaks-first (SSH, SMTP): no waiting, but use what is already there. */
	if (sniffing) {
		char host[KG_HOST_MAX];

		if (sniff(c, true, host) < 0) {
			relay_conn_close(cl, c, false); /* the app left before saying anything */
			return;
		}
		name_from(c, host);
	}
	set_named(c);
	setup_begin(cl, c);
}

void tunnel_on_app(struct kg_client *cl, struct relay_conn *c)
{
	int r;

	if (c->state == CONN_SNIFF && c->setup->held) {
		confirm_guess(cl, c, false);
		return;
	}
	if (c->state == CONN_SNIFF) {
		char host[KG_HOST_MAX];

		r = sniff(c, false, host);
		if (r < 0) {
			relay_conn_close(cl, c, false);
		} else if (r == 1) {
			name_from(c, host);
			set_named(c);
			setup_advance(cl, c);
		}
		return;
	}
	if (c->setup->guessing && !c->setup->named) {
		check_guess(cl, c);
		return;
	}
	/* Not relaying yet: the app's bytes wait in its socket (that is the backpressure). An
	 * app that gives up is noticed when the tunnel starts. */
}

/* The proxy's answer to CONNECT: the upstream peeks, so not a byte past the head is ever taken
 * from the socket; what follows a 2xx head is the tunnel's and reaches the application by the
 * relay. */
static void read_answer(struct kg_client *cl, struct relay_conn *c)
{
	int r = upstream_read_connect_answer(&c->setup->up);

	if (r < 0)
		fail_upstream(cl, c);
	else if (r == UPSTREAM_OPEN)
		opened(cl, c);
	else if (r == UPSTREAM_RECONNECTING)
		c->state = CONN_CONNECTING;
}

void tunnel_on_proxy(struct kg_client *cl, struct relay_conn *c)
{
	switch (c->state) {
	case CONN_SNIFF:
	case CONN_CONNECTING:
		if (c->setup->held)
			break; /* the open tunnel waits for the ClientHello; the relay reads it then
				*/
		if (!c->setup->failed && upstream_poll(&c->setup->up) < 0)
			c->setup->failed = true;
		setup_advance(cl, c);
		break;
	case CONN_PROXY_HEAD:
		read_answer(cl, c);
		break;
	default:
		break;
	}
}

void tunnel_on_timer(struct kg_client *cl, struct relay_conn *c)
{
	char why[UPSTREAM_REASON_MAX], url[KG_URL_MAX];
	int r;

	switch (c->state) {
	case CONN_SNIFF:
	case CONN_CONNECTING:
		setup_on_timer(cl, c);
		break;
	case CONN_PROXY_HEAD:
		r = upstream_answer_timer(&c->setup->up);
		if (r == UPSTREAM_RECONNECTING)
			c->state = CONN_CONNECTING;
		else if (r == -ETIMEDOUT && c->setup->guessing)
			drop_guess(cl, c, upstream_no_answer(&c->setup->up, why, sizeof(why)));
		else if (r == -ETIMEDOUT)
			fail(cl, c, upstream_no_answer(&c->setup->up, why, sizeof(why)),
			     upstream_peer(&c->setup->up, url, sizeof(url)));
		else if (r < 0)
			fail_upstream(cl, c);
		break;
	default:
		break;
	}
}

void tunnel_on_auth(struct kg_client *cl, struct relay_conn *c, struct auth_job *job)
{
	upstream_take_token(&c->setup->up, job);
	setup_advance(cl, c);
}

static void tunnel_conn_free(struct relay_conn *c)
{
	tunnel_setup_free(c->setup);
	c->setup = NULL;
}

const struct conn_ops tunnel_conn_ops = {
    .start = tunnel_accepted,
    .on_app = tunnel_on_app,
    .on_upstream = tunnel_on_proxy,
    .on_timer = tunnel_on_timer,
    .on_auth = tunnel_on_auth,
    .free = tunnel_conn_free,
};
