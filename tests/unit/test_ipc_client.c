/* Unit tests of the client's IPC link (src/client/ipc_client.c) against a fake service on a
 * socketpair: no step waits for the service (a silent one costs a timeout at the deadline, a
 * full socket is written when it drains), a garbage or wrong answer is refused and retried,
 * and a normal registration hands the listeners over and applies the configuration. The route
 * state (ipc_client_set_direct) reaches the service when the link is free, coalesced, and again
 * after every registration. While there is no link, the socket's directory is watched: the
 * service's socket appearing brings the next attempt forward, however long the backoff had
 * grown. The loop and the Kerberos worker are stubs that record what the link asks of them. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "client/auth/authq.h"
#include "client/forward.h"
#include "client/ipc_client.h"
#include "client/ipc_report.h"
#include "client/loop.h"
#include "client/upstream.h"
#include "shared/config_wire.h"
#include "shared/netutil.h"

/* ---- Stubs of the loop, the worker and the tunnels ---------------------------------------- */

static int watched_fd = -1;
static uint32_t watched_events;
static unsigned retired;
/* Another source than the link and the listeners (the socket's watch), and the callback the
 * link registered for it. */
static int other_fd = -1;
static struct kg_loop_source *other_src;
static void (*source_cb)(struct kg_loop_source *s, uint32_t events);

static struct kg_client cl;

int kg_loop_add(int fd, struct kg_loop_source *s, uint32_t events)
{
	if (s == &cl.ipc_src) {
		watched_fd = fd;
		watched_events = events;
	} else if (s != &cl.listeners[0].src && s != &cl.listeners[1].src) {
		other_fd = fd;
		other_src = s;
	}
	return 0;
}

void kg_loop_del(int fd)
{
	if (fd == watched_fd)
		watched_fd = -1;
	if (fd == other_fd)
		other_fd = -1;
}

uint8_t kg_loop_source_kind(void (*on_event)(struct kg_loop_source *s, uint32_t events))
{
	source_cb = on_event;
	return 1;
}

/* Timers only record their deadline: the tests call ipc_client_on_timer() themselves. */
uint64_t kg_loop_now(void)
{
	return kg_now_usec(CLOCK_MONOTONIC);
}

int kg_loop_timer_arm(struct kg_loop_timer *t, uint64_t deadline)
{
	t->deadline = deadline;
	t->heap_pos = 1;
	return 0;
}

void kg_loop_timer_cancel(struct kg_loop_timer *t)
{
	t->deadline = 0;
	t->heap_pos = 0;
}

struct auth_job *authq_submit_ticket(const struct authq_request *req, authq_done_fn *done)
{
	return NULL;
}

void authq_job_free(struct auth_job *job)
{
}

static unsigned reloads;
static int reload_r;

static void reload_done(struct kg_client *c, int r)
{
	(void)c;
	reloads++;
	reload_r = r;
}

/* main.c's hook: port-80 connections are retired when the way out changed. */
static void settings_applied(struct kg_client *client, bool upstream_changed)
{
	if (upstream_changed)
		retired++;
}

/* ---- The fake service ---------------------------------------------------------------------- */

static int service_fd = -1;

static void setup(void)
{
	int sv[2];
	unsigned i;

	memset(&cl, 0, sizeof(cl));
	cl.ipc_fd = -1;
	for (i = 0; i < CLIENT_MAX_LISTENERS; i++)
		cl.listeners[i].fd = -1;
	strcpy(cl.socket_path, "/nonexistent/kg-test.sock");
	strcpy(cl.uid_str, "1000");
	cl.reload_done = reload_done;
	cl.settings_applied = settings_applied;
	watched_fd = -1;
	watched_events = 0;
	retired = 0;
	reloads = 0;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	service_fd = sv[0];
	ck_assert_int_eq(ipc_client_start(&cl, sv[1]), -EINPROGRESS);
}

static void teardown(void)
{
	ipc_client_close(&cl);
	client_settings_unref(cl.set);
	cl.set = NULL;
	close(service_fd);
}

static uint64_t ms_since(uint64_t start)
{
	return (kg_now_usec(CLOCK_MONOTONIC) - start) / 1000;
}

/* The next request the client sent; its seq. */
static uint32_t expect_request(uint16_t type)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;

	ck_assert_int_eq(kg_ipc_recv(service_fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL),
			 0);
	ck_assert_uint_eq(m.hdr.type, type);
	if (type == KG_MSG_REGISTER) /* it understands KG_MSG_CLIENT_WATCHED */
		ck_assert_uint_eq(((const struct kg_ipc_register *)m.payload)->caps,
				  KG_IPC_CAP_ROUTES);
	return m.hdr.seq;
}

static void send_registered(uint32_t seq, const int *fds, size_t n_fds)
{
	struct kg_ipc_registered reg = {.port4 = 4321, .port6 = 4322, .n_fds = (uint32_t)n_fds};

	ck_assert_int_eq(
	    kg_ipc_send(service_fd, KG_MSG_REGISTERED, seq, &reg, sizeof(reg), fds, n_fds), 0);
}

static void send_config(uint32_t seq, const char *url)
{
	static const uint16_t ports[] = {80, 443};
	uint8_t payload[KG_IPC_MAX_PAYLOAD];
	struct kg_config cfg;
	size_t len;

	kg_config_defaults(&cfg);
	strcpy(cfg.proxy.url, url);
	strcpy(cfg.kerberos.spn, "HTTP@proxy.example.com");
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, 2, payload, sizeof(payload), &len), 0);
	ck_assert_int_eq(kg_ipc_send(service_fd, KG_MSG_CONFIG, seq, payload, len, NULL, 0), 0);
}

static void assert_retrying(void)
{
	ck_assert_int_eq(cl.ipc_fd, -1);
	ck_assert_int_eq(cl.ipc_step, IPC_IDLE);
	ck_assert(!cl.registered);
	ck_assert(kg_loop_timer_armed(&cl.reconnect_timer));
	ck_assert_int_eq(cl.listeners[0].fd, -1);
	ck_assert_int_eq(watched_fd, -1);
}

/* ---- Tests --------------------------------------------------------------------------------- */

/* A service that takes the request and never answers: nothing waits, the deadline ends it. */
START_TEST(test_silent_service)
{
	uint64_t start = kg_now_usec(CLOCK_MONOTONIC);

	expect_request(KG_MSG_REGISTER);
	ipc_client_on_readable(&cl);
	ipc_client_on_readable(&cl);
	ck_assert_uint_lt(ms_since(start), 100);
	ck_assert_int_eq(cl.ipc_step, IPC_REGISTERING);
	ck_assert(!cl.registered);
	ck_assert_int_eq(watched_fd, cl.ipc_fd);
	/* The deadline is the loop's timer, CLIENT_IPC_TIMEOUT_MS away. */
	ck_assert_uint_gt(cl.reconnect_timer.deadline,
			  start + (CLIENT_IPC_TIMEOUT_MS - 500) * 1000ull);
	ck_assert_uint_le(cl.reconnect_timer.deadline, start + CLIENT_IPC_TIMEOUT_MS * 1000ull);
	ck_assert_int_eq(ipc_client_on_timer(&cl), -EAGAIN);
	assert_retrying();
}
END_TEST

/* A service that does not even read: the request waits for room, the link for writability. */
START_TEST(test_full_socket)
{
	static const char junk[64];
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	uint32_t seq;
	int r, listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* Registered and quiet; then the service stops reading and the socket fills up. */
	ck_assert_int_ge(listener, 0);
	seq = expect_request(KG_MSG_REGISTER);
	send_registered(seq, &listener, 1);
	close(listener);
	ipc_client_on_readable(&cl);
	send_config(expect_request(KG_MSG_CONFIG_GET), "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	ck_assert(cl.registered);
	while ((r = (int)send(cl.ipc_fd, junk, sizeof(junk), MSG_DONTWAIT)) > 0)
		;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	ck_assert(cl.ipc_req_unsent);
	ck_assert(watched_events & EPOLLOUT);
	/* Drained: the request goes out, the link watches for input only again. */
	while (recv(service_fd, buf.bytes, sizeof(buf.bytes), MSG_DONTWAIT) == sizeof(junk))
		;
	ipc_client_on_writable(&cl);
	ck_assert(!cl.ipc_req_unsent);
	ck_assert(!(watched_events & EPOLLOUT));
	ck_assert_int_eq(kg_ipc_recv(service_fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL),
			 0);
	ck_assert_uint_eq(m.hdr.type, KG_MSG_CONFIG_GET);
}
END_TEST

/* Bytes that are no message: refused, the link closed and tried again later. */
START_TEST(test_garbage_answer)
{
	static const char garbage[] = "HTTP/1.1 200 OK\r\n\r\n";

	expect_request(KG_MSG_REGISTER);
	ck_assert_int_eq(write(service_fd, garbage, sizeof(garbage)), (ssize_t)sizeof(garbage));
	ipc_client_on_readable(&cl);
	assert_retrying();
}
END_TEST

/* Well-formed, but not the answer asked for: the same. */
START_TEST(test_wrong_answer)
{
	uint32_t seq = expect_request(KG_MSG_REGISTER);

	send_config(seq, "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	assert_retrying();
	ck_assert_ptr_null(cl.set);
}
END_TEST

/* REGISTERED without listeners is no registration. */
START_TEST(test_no_listeners)
{
	send_registered(expect_request(KG_MSG_REGISTER), NULL, 0);
	ipc_client_on_readable(&cl);
	assert_retrying();
}
END_TEST

/* A refusal (EPERM: root, or another client of the uid) stops the client at the next tick. */
START_TEST(test_refused)
{
	uint32_t seq = expect_request(KG_MSG_REGISTER);

	ck_assert_int_eq(kg_ipc_send_error(service_fd, seq, EPERM, "root has no relay"), 0);
	ipc_client_on_readable(&cl);
	ck_assert_int_eq(cl.ipc_fd, -1);
	ck_assert(!cl.registered);
	ck_assert_int_eq(ipc_client_on_timer(&cl), -EPERM);
}
END_TEST

/* The listeners the service sends are the ones the client watches; the configuration follows,
 * and a refresh asks for it again without waiting. */
START_TEST(test_register)
{
	int listeners[2], i;
	struct stat a, b;
	uint32_t seq;

	for (i = 0; i < 2; i++) {
		listeners[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ge(listeners[i], 0);
	}
	seq = expect_request(KG_MSG_REGISTER);
	send_registered(seq, listeners, 2);
	ipc_client_on_readable(&cl);
	ck_assert_int_eq(cl.ipc_step, IPC_CONFIGURING);
	ck_assert(!cl.registered);
	for (i = 0; i < 2; i++) {
		ck_assert_int_ge(cl.listeners[i].fd, 0);
		ck_assert_int_eq(fstat(cl.listeners[i].fd, &a), 0);
		ck_assert_int_eq(fstat(listeners[i], &b), 0);
		ck_assert_uint_eq(a.st_ino, b.st_ino);
		ck_assert(fcntl(cl.listeners[i].fd, F_GETFL) & O_NONBLOCK);
	}
	/* An event before the answer is no answer. */
	ck_assert_int_eq(kg_ipc_send(service_fd, KG_MSG_NOTIFY_ACCEPT, 0, &(struct kg_event){0},
				     sizeof(struct kg_event), NULL, 0),
			 0);
	send_config(expect_request(KG_MSG_CONFIG_GET), "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	ck_assert(cl.registered);
	ck_assert_int_eq(cl.ipc_step, IPC_READY);
	ck_assert(!kg_loop_timer_armed(&cl.reconnect_timer));
	ck_assert_uint_eq(cl.reg_port4, 4321);
	ck_assert_ptr_nonnull(cl.set);
	ck_assert_str_eq(cl.set->cfg.proxy.url, "http://proxy.example.com:3128");
	ck_assert_str_eq(cl.set->proxy.host, "proxy.example.com");
	ck_assert_uint_eq(retired, 1);

	/* A reload ends when the answer is in, not before. */
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	ck_assert(kg_loop_timer_armed(&cl.reconnect_timer));
	ipc_client_on_readable(&cl);
	ck_assert_uint_eq(reloads, 0);
	send_config(expect_request(KG_MSG_CONFIG_GET), "http://other.example.com:8080");
	ipc_client_on_readable(&cl);
	ck_assert_uint_eq(reloads, 1);
	ck_assert_int_eq(reload_r, 0);
	ck_assert_str_eq(cl.set->cfg.proxy.url, "http://other.example.com:8080");
	ck_assert(!kg_loop_timer_armed(&cl.reconnect_timer));
	ck_assert_uint_eq(retired, 2);
	/* One the service leaves unanswered ends at the deadline, the link kept. */
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	expect_request(KG_MSG_CONFIG_GET);
	ck_assert_int_eq(ipc_client_on_timer(&cl), 0);
	ck_assert_uint_eq(reloads, 2);
	ck_assert_int_eq(reload_r, -ETIMEDOUT);
	ck_assert(cl.registered);
	for (i = 0; i < 2; i++)
		close(listeners[i]);
}
END_TEST

/* Register on the current link with one listener and a configuration. */
static void register_fully(void)
{
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(listener, 0);
	send_registered(expect_request(KG_MSG_REGISTER), &listener, 1);
	close(listener);
	ipc_client_on_readable(&cl);
	send_config(expect_request(KG_MSG_CONFIG_GET), "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	ck_assert(cl.registered);
}

/* The next request is a KG_MSG_CLIENT_ROUTE_STATE saying direct and reason; its seq. */
static uint32_t expect_route(uint32_t direct, const char *reason)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	const struct kg_ipc_route_state *rs;

	ck_assert_int_eq(kg_ipc_recv(service_fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL),
			 0);
	ck_assert_uint_eq(m.hdr.type, KG_MSG_CLIENT_ROUTE_STATE);
	rs = m.payload;
	ck_assert_uint_eq(rs->direct, direct);
	ck_assert_str_eq(rs->reason, reason);
	return m.hdr.seq;
}

static void assert_nothing_sent(void)
{
	char b[64];

	ck_assert_int_eq(recv(service_fd, b, sizeof(b), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

static void answer_ok(uint32_t seq)
{
	ck_assert_int_eq(kg_ipc_send(service_fd, KG_MSG_OK, seq, NULL, 0, NULL, 0), 0);
	ipc_client_on_readable(&cl);
}

/* Off the corporate network: said once the link is registered and free, one request at a time,
 * the latest state winning; a bad reason is refused. */
START_TEST(test_route_state)
{
	char longer[KG_IPC_REASON_MAX + 1];
	uint32_t seq;

	/* Wanted before the registration: said right after it. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "no proxy reachable"), 0);
	ck_assert(cl.route_direct);
	ck_assert(!cl.route_told);
	register_fully();
	seq = expect_route(1, "no proxy reachable");
	ck_assert(!cl.route_told);
	answer_ok(seq);
	ck_assert(cl.route_told);
	ck_assert(!kg_loop_timer_armed(&cl.reconnect_timer));
	/* The same again is no request. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "no proxy reachable"), 0);
	assert_nothing_sent();

	/* Changes while a request is under way wait for it and coalesce to the latest. */
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	seq = expect_request(KG_MSG_CONFIG_GET);
	ck_assert_int_eq(ipc_client_set_direct(&cl, false, NULL), 0);
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "WPAD found nothing"), 0);
	ck_assert_int_eq(ipc_client_set_direct(&cl, false, "ignored when steered"), 0);
	ck_assert_str_eq(cl.route_reason, "");
	assert_nothing_sent();
	send_config(seq, "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	ck_assert_uint_eq(reloads, 1);
	seq = expect_route(0, "");
	assert_nothing_sent();
	/* A change while the route request itself is out: sent after its answer. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "PAC says DIRECT for everything"), 0);
	assert_nothing_sent();
	answer_ok(seq);
	ck_assert(!cl.route_told); /* that answer was for the state before */
	seq = expect_route(1, "PAC says DIRECT for everything");
	answer_ok(seq);
	ck_assert(cl.route_told);

	/* A refusal is logged, not retried in a loop. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, false, NULL), 0);
	seq = expect_route(0, "");
	ck_assert_int_eq(kg_ipc_send_error(service_fd, seq, EPERM, "not a registered client"), 0);
	ipc_client_on_readable(&cl);
	ck_assert(!cl.route_told);
	ck_assert(cl.registered);
	assert_nothing_sent();

	/* An unanswered one is asked again at its deadline, the link kept. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "probe"), 0);
	expect_route(1, "probe");
	ck_assert(kg_loop_timer_armed(&cl.reconnect_timer));
	ck_assert_int_eq(ipc_client_on_timer(&cl), 0);
	ck_assert(cl.registered);
	seq = expect_route(1, "probe");
	answer_ok(seq);
	ck_assert(cl.route_told);

	/* Reasons: bounded and printable, else refused and nothing changes. */
	memset(longer, 'x', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, longer), -EINVAL);
	longer[KG_IPC_REASON_MAX - 1] = '\0';
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "bell\a"), -EINVAL);
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "new\nline"), -EINVAL);
	ck_assert_str_eq(cl.route_reason, "probe");
	assert_nothing_sent();
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, longer), 0); /* 63 bytes fit */
	expect_route(1, longer);
}
END_TEST

/* A reload while the route request is out is not lost: its fetch follows the answer, and ends
 * the reload; a route request left unanswered does not end that reload. */
START_TEST(test_route_state_and_reload)
{
	uint32_t seq;

	register_fully();
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "no proxy reachable"), 0);
	seq = expect_route(1, "no proxy reachable");
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	assert_nothing_sent();
	answer_ok(seq);
	ck_assert(cl.route_told);
	ck_assert_uint_eq(reloads, 0);
	send_config(expect_request(KG_MSG_CONFIG_GET), "http://other.example.com:8080");
	ipc_client_on_readable(&cl);
	ck_assert_uint_eq(reloads, 1);
	ck_assert_int_eq(reload_r, 0);
	ck_assert_str_eq(cl.set->cfg.proxy.url, "http://other.example.com:8080");

	/* The route request times out: asked again, the queued reload still waits its turn. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, false, NULL), 0);
	expect_route(0, "");
	ck_assert_int_eq(ipc_client_refresh(&cl), 0);
	ck_assert_int_eq(ipc_client_on_timer(&cl), 0);
	ck_assert_uint_eq(reloads, 1);
	seq = expect_request(KG_MSG_CONFIG_GET);
	send_config(seq, "http://proxy.example.com:3128");
	ipc_client_on_readable(&cl);
	ck_assert_uint_eq(reloads, 2);
	ck_assert_int_eq(reload_r, 0);
	answer_ok(expect_route(0, ""));
	ck_assert(cl.route_told);
	assert_nothing_sent();
}
END_TEST

/* A service that went away forgot the state: the next registration says it again; a state of
 * "steered" needs no word, a new service starts out steering. */
START_TEST(test_route_state_reregister)
{
	int sv[2];

	register_fully();
	assert_nothing_sent(); /* steered: nothing to say */
	ck_assert_int_eq(ipc_client_set_direct(&cl, true, "no proxy reachable"), 0);
	answer_ok(expect_route(1, "no proxy reachable"));
	ck_assert(cl.route_told);

	/* The service goes away. */
	close(service_fd);
	ipc_client_on_readable(&cl);
	assert_retrying();
	ck_assert(cl.route_direct);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	service_fd = sv[0];
	ck_assert_int_eq(ipc_client_start(&cl, sv[1]), -EINPROGRESS);
	register_fully();
	answer_ok(expect_route(1, "no proxy reachable"));
	ck_assert(cl.route_told);

	/* Back on the network, then the service restarts: nothing to say after registering. */
	ck_assert_int_eq(ipc_client_set_direct(&cl, false, NULL), 0);
	answer_ok(expect_route(0, ""));
	close(service_fd);
	ipc_client_on_readable(&cl);
	assert_retrying();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	service_fd = sv[0];
	ck_assert_int_eq(ipc_client_start(&cl, sv[1]), -EINPROGRESS);
	register_fully();
	assert_nothing_sent();
	ck_assert(cl.route_told);
}
END_TEST

/* No service at all: the connect fails at once and a retry is scheduled. */
START_TEST(test_no_service)
{
	ipc_client_close(&cl);
	kg_loop_timer_cancel(&cl.reconnect_timer);
	ck_assert_int_lt(ipc_client_on_timer(&cl), 0);
	assert_retrying();
}
END_TEST

/* The service restarts after a long absence: its socket appearing in the watched directory
 * brings the attempt the backoff had put off seconds away forward to now; a name of no
 * concern does not. Registered again, the directory is no longer watched. */
START_TEST(test_service_returns)
{
	char dir[] = "/tmp/kg-test-ipc.XXXXXX", other[64];
	uint64_t due;
	int i, listener, fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_lt(snprintf(cl.socket_path, sizeof(cl.socket_path), "%s/kg.sock", dir),
			 (int)sizeof(cl.socket_path));
	snprintf(other, sizeof(other), "%s/other", dir);
	ipc_client_close(&cl);
	kg_loop_timer_cancel(&cl.reconnect_timer);
	for (i = 0; i < 8; i++) /* no socket: the backoff grows to its maximum */
		ck_assert_int_eq(ipc_client_on_timer(&cl), -ENOENT);
	assert_retrying();
	ck_assert_uint_eq(cl.backoff_ms, CLIENT_BACKOFF_MAX_MS);
	ck_assert_int_ge(other_fd, 0);
	ck_assert_ptr_nonnull(source_cb);
	due = cl.reconnect_timer.deadline;
	ck_assert_uint_gt(due, kg_loop_now() + 1000000ull);

	fd = open(other, O_CREAT | O_WRONLY | O_CLOEXEC, 0600); /* not the socket */
	ck_assert_int_ge(fd, 0);
	close(fd);
	source_cb(other_src, EPOLLIN);
	ck_assert_uint_eq(cl.reconnect_timer.deadline, due);

	listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(listener, 0);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		strcpy(sa.sun_path, cl.socket_path);
		ck_assert_int_eq(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
		ck_assert_int_eq(listen(listener, 4), 0);
	}
	source_cb(other_src, EPOLLIN);
	ck_assert(kg_loop_timer_armed(&cl.reconnect_timer));
	ck_assert_uint_le(cl.reconnect_timer.deadline, kg_loop_now());
	ck_assert_uint_eq(cl.backoff_ms, CLIENT_BACKOFF_MIN_MS);

	ck_assert_int_eq(ipc_client_on_timer(&cl), -EINPROGRESS);
	close(service_fd);
	service_fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(service_fd, 0);
	register_fully();
	ck_assert_int_eq(other_fd, -1);

	close(listener);
	unlink(cl.socket_path);
	unlink(other);
	rmdir(dir);
}
END_TEST

/* ---- Route reports (ipc_report_route.c) ----------------------------------------------------- */

/* What ipc_report_route_text() reads of an upstream's kind: a proxy makes tokens. */
static const struct upstream_ops proxy_ops = {.name = "http proxy", .auth = true};
static const struct upstream_ops direct_ops = {.name = "direct", .auth = false};

static void route_entry(struct kg_route *r, enum kg_route_kind kind, const char *host)
{
	struct kg_route_entry *e = &r->e[r->n++];

	memset(e, 0, sizeof(*e));
	e->kind = kind;
	if (host) {
		strcpy(e->host, host);
		e->port = 3128;
	}
}

/* The next message is a KG_MSG_CLIENT_ROUTE: checked as the service checks it, copied. */
static void expect_report(struct kg_ipc_route *out)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;

	ck_assert_int_eq(kg_ipc_recv(service_fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL),
			 0);
	ck_assert_uint_eq(m.hdr.type, KG_MSG_CLIENT_ROUTE);
	memcpy(out, m.payload, sizeof(*out));
	ck_assert_uint_eq(out->uid, 0);
}

static void send_watched(uint32_t watched)
{
	struct kg_ipc_watched w = {.watched = watched};

	ck_assert_int_eq(kg_ipc_send(service_fd, KG_MSG_CLIENT_WATCHED, 0, &w, sizeof(w), NULL, 0),
			 0);
	ipc_client_on_readable(&cl);
}

/* The texts of the routes; a report goes out only while the service says someone watches,
 * never waits (a full socket drops and counts it), and holds printable ASCII only. */
START_TEST(test_route_reports)
{
	static const uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5};
	struct relay_conn c;
	struct upstream u;
	struct kg_route r = {0}, d = {0}, two = {0};
	struct kg_ipc_route rt;
	char text[KG_IPC_ROUTE_MAX + 64], sentence[400];
	uint64_t now = kg_now_usec(CLOCK_MONOTONIC);
	unsigned i;

	register_fully();
	memset(&c, 0, sizeof(c));
	c.set = cl.set;
	memcpy(c.dst_ip, ip, sizeof(ip));
	c.dst_port = 443;
	memset(&u, 0, sizeof(u));
	u.cl = &cl;
	u.c = &c;
	u.ops = &proxy_ops;
	strcpy(u.host, "www.example.test");
	route_entry(&r, KG_ROUTE_PROXY, "p1");
	route_entry(&r, KG_ROUTE_PROXY, "p2");
	route_entry(&d, KG_ROUTE_DIRECT, NULL);
	route_entry(&two, KG_ROUTE_PROXY, "p1");
	route_entry(&two, KG_ROUTE_DIRECT, NULL);

	/* The texts. */
	u.route = &r;
	u.idx = 0;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_SETTINGS, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "via p1:3128");
	kg_failover_mark_down(&cl.failover, &r.e[0], now);
	u.idx = 1;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "via p2:3128 (p1:3128 down)");
	u.route = &d;
	u.idx = 0;
	u.ops = &direct_ops;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "DIRECT by PAC");
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC_FALLBACK, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "DIRECT (PAC failed: proxy.fallback)");
	u.route = &two;
	u.idx = 1;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_SETTINGS, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "DIRECT (proxy.fallback) (p1:3128 down)");
	cl.route_direct = true;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_SETTINGS, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "DIRECT (off-network) (p1:3128 down)");
	cl.route_direct = false;
	u.route = NULL;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_SETTINGS, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "DIRECT"); /* proxy.type none */
	u.ops = &proxy_ops;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_SETTINGS, NULL, text, sizeof(text));
	ck_assert_str_eq(text, "via http://proxy.example.com:3128");
	/* Failures: every proxy of the route down, or the sentence. */
	u.route = &r;
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC, "proxy unreachable: x", text, sizeof(text));
	ck_assert_str_eq(text, "failed: proxy unreachable: x");
	kg_failover_mark_down(&cl.failover, &r.e[1], now);
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC, "proxy unreachable: x", text, sizeof(text));
	ck_assert_str_eq(text, "failed: every proxy down");
	u.route = &two; /* a DIRECT entry that failed is the destination's failure */
	ipc_report_route_text(&cl, &u, IPC_ROUTE_PAC, "destination unreachable: y", text,
			      sizeof(text));
	ck_assert_str_eq(text, "failed: destination unreachable: y");
	ipc_report_route_text(&cl, NULL, IPC_ROUTE_PAC, "the PAC gave no route: z", text,
			      sizeof(text));
	ck_assert_str_eq(text, "failed: the PAC gave no route: z");
	kg_failover_init(&cl.failover);

	/* Nobody watches: nothing is sent. */
	u.route = &r;
	u.idx = 0;
	ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, NULL);
	assert_nothing_sent();
	ck_assert_uint_eq(cl.routes_reported, 0);
	/* Someone does: one message per report, uid 0, the destination, the host, the route. */
	send_watched(1);
	ck_assert(cl.route_watched);
	ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, NULL);
	expect_report(&rt);
	ck_assert_int_eq(memcmp(rt.dst_ip, ip, 16), 0);
	ck_assert_uint_eq(rt.dst_port, 443);
	ck_assert_str_eq(rt.host, "www.example.test");
	ck_assert_str_eq(rt.route, "via p1:3128");
	ck_assert_int_eq(kg_ipc_route_check(&rt, 1), 0);
	ck_assert_uint_eq(cl.routes_reported, 1);
	/* The IP literal is no name; a control character becomes '?'; a long sentence is cut
	 * with "...". */
	strcpy(u.host, "203.0.113.5");
	ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, NULL);
	expect_report(&rt);
	ck_assert_str_eq(rt.host, "");
	strcpy(u.host, "ev\x1b[2Jil host");
	memset(sentence, 'x', sizeof(sentence) - 1);
	sentence[sizeof(sentence) - 1] = '\0';
	sentence[3] = '\n';
	ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, sentence);
	expect_report(&rt);
	ck_assert_str_eq(rt.host, "ev?[2Jil?host");
	ck_assert_uint_eq(strlen(rt.route), KG_IPC_ROUTE_MAX - 1);
	ck_assert_int_eq(strncmp(rt.route, "failed: xxx?xx", 14), 0);
	ck_assert_str_eq(rt.route + KG_IPC_ROUTE_MAX - 4, "...");
	ck_assert_int_eq(kg_ipc_route_check(&rt, 1), 0);
	/* A full socket: dropped and counted, never waited for. */
	strcpy(u.host, "www.example.test");
	for (i = 0; i < 100000 && cl.routes_dropped == 0; i++)
		ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, NULL);
	ck_assert_uint_gt(cl.routes_dropped, 0);
	ck_assert_uint_gt(i, 1);
	while (recv(service_fd, text, sizeof(text), MSG_DONTWAIT) > 0)
		;
	/* Nobody watches any more: nothing again. */
	send_watched(0);
	ck_assert(!cl.route_watched);
	ipc_report_route(&cl, &c, &u, IPC_ROUTE_PAC, NULL);
	assert_nothing_sent();
	/* A new link starts unwatched. */
	send_watched(1);
	ck_assert(cl.route_watched);
	ipc_client_close(&cl);
	ck_assert(!cl.route_watched);
}
END_TEST

static Suite *ipc_client_suite(void)
{
	Suite *s = suite_create("ipc_client");
	TCase *tc = tcase_create("link");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_silent_service);
	tcase_add_test(tc, test_full_socket);
	tcase_add_test(tc, test_garbage_answer);
	tcase_add_test(tc, test_wrong_answer);
	tcase_add_test(tc, test_no_listeners);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_register);
	tcase_add_test(tc, test_no_service);
	tcase_add_test(tc, test_service_returns);
	tcase_add_test(tc, test_route_state);
	tcase_add_test(tc, test_route_reports);
	tcase_add_test(tc, test_route_state_reregister);
	tcase_add_test(tc, test_route_state_and_reload);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(ipc_client_suite());
	int failed;

	unsetenv("NOTIFY_SOCKET");
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
