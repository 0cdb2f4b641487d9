/* kg-probe: a test instrument for the service's datapath and IPC (not shipped).
 *
 *   kg-probe relay SOCKET [--other-uid V] [--self ADDR PORT]
 *       Register over IPC as the calling user and serve the received listeners: for each
 *       accepted connection answer one line "ORIGDST addr:port" (SO_ORIGINAL_DST answered) or
 *       "NOORIGDST errno" and close. Prints "REGISTERED port4 port6" once ready. With
 *       --other-uid (start as root), a forked child that switched to uid V first asks
 *       SO_ORIGINAL_DST on every accepted socket and the line gains " OTHER=answered|denied".
 *       Then the process becomes the user given by $KG_PROBE_UID. With --self, after
 *       registering, the probe connects to ADDR:PORT itself and prints "SELF <reply>".
 *       With --control FIFO, lines written to FIFO ask the service, as this client, to
 *       "direct REASON" (stop steering the user) or "steer" (steer again), by
 *       KG_MSG_CLIENT_ROUTE_STATE; each answer prints "ROUTE OK" or "ROUTE ERROR <text>".
 *       Control lines "report HOST ROUTE..." send a route report for 192.0.2.10:443
 *       (KG_MSG_CLIENT_ROUTE; "-" for no host; prints "REPORT sent|<error>"), "burst N
 *       HOST ROUTE..." N of them as fast as the socket takes them ("BURST sent=S"),
 *       "forge UID HOST ROUTE..." one whose payload names UID (malformed: "REPORT sent",
 *       then the service ends the link). The service's KG_MSG_CLIENT_WATCHED prints
 *       "WATCHED 0|1"; "SERVICE GONE" when it closes. With --old it registers as a client
 *       older than route reports (no KG_IPC_CAP_ROUTES). With --system it registers as the
 *       system relay (KG_IPC_REGISTER_SYSTEM, for the service's system.uids); with
 *       --system-uids A,B,... as the system relay for those uids (struct
 *       kg_ipc_register_system). A refusal prints "REFUSED <the service's sentence>".
 *   kg-probe route-report SOCKET
 *       A route report on a connection that registered nothing: prints the answer,
 *       "ROUTE ERROR <text>" (or "ROUTE OK").
 *   kg-probe route-state SOCKET direct|steer [REASON]
 *       The same request on a connection that registered nothing: prints "ROUTE OK" or
 *       "ROUTE ERROR <text>".
 *   kg-probe connect ADDR PORT [-6]
 *       Connect (AF_INET6 socket with -6, so ::ffff:a.b.c.d works), print
 *       "PEER addr:port" from getpeername() and the first line the server sends.
 *   kg-probe register-twice SOCKET
 *       Register, then try a second time on a new connection: prints the refusal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shared/ipc.h"
#include "shared/netutil.h"

#define SOL_IP_	  0
#define SOL_IPV6_ 41

/* What the relay says it understands when registering (--old: nothing, as older clients). */
static uint32_t register_caps = KG_IPC_CAP_ROUTES;
/* --system, --system-uids: register as the system relay (for these uids when n_sys_uids). */
static bool register_system;
static struct kg_ipc_register_system sys_rq;

static int ask_origdst(int fd, char *out, size_t len)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl = sizeof(ss);
	int family;
	socklen_t fl = sizeof(family);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &fl) < 0)
		return -errno;
	if (getsockopt(fd, family == AF_INET ? SOL_IP_ : SOL_IPV6_, 80, &ss, &sl) < 0)
		return -errno;
	kg_format_sockaddr((struct sockaddr *)&ss, out, len);
	return 0;
}

static int connect_line(const char *addr, int port, int v6sock, char *peer, size_t plen, char *line,
			size_t llen)
{
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct timeval tv = {.tv_sec = 3};
	int fd, family = v6sock || strchr(addr, ':') ? AF_INET6 : AF_INET;
	ssize_t n;

	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (void *)&ss;
		char mapped[64];

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		snprintf(mapped, sizeof(mapped), "%s%s", strchr(addr, ':') ? "" : "::ffff:", addr);
		if (inet_pton(AF_INET6, mapped, &s6->sin6_addr) != 1)
			return -EINVAL;
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			return -EINVAL;
		sl = sizeof(*s4);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		kg_format_sockaddr((struct sockaddr *)&ss, peer, plen);
	n = read(fd, line, llen - 1);
	close(fd);
	if (n < 0)
		return -errno;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	if (n == 0)
		snprintf(line, llen, "EOF");
	return 0;
}

static int cmd_connect(int argc, char **argv)
{
	char peer[128] = "?", line[256] = "";
	int r;

	if (argc < 2)
		return 2;
	r = connect_line(argv[0], atoi(argv[1]), argc > 2 && strcmp(argv[2], "-6") == 0, peer,
			 sizeof(peer), line, sizeof(line));
	if (r < 0) {
		printf("ERROR %s\n", strerror(-r));
		return 1;
	}
	printf("PEER %s\n%s\n", peer, line);
	return 0;
}

static int do_register(const char *path, int *fds, size_t *n_fds, struct kg_ipc_registered *reg)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m;
	struct kg_ipc_register rq = {.caps = register_caps,
				     .flags = register_system ? KG_IPC_REGISTER_SYSTEM : 0};
	int fd = kg_ipc_connect(path), r;

	if (fd < 0)
		return fd;
	sys_rq.reg = rq;
	if (sys_rq.n_uids)
		r = kg_ipc_call(fd, KG_MSG_REGISTER, &sys_rq, sizeof(sys_rq), buf.bytes,
				sizeof(buf.bytes), &m, fds, 2, n_fds, 5000);
	else
		r = kg_ipc_call(fd, KG_MSG_REGISTER, &rq, sizeof(rq), buf.bytes, sizeof(buf.bytes),
				&m, fds, 2, n_fds, 5000);
	if (r < 0) {
		if (m.hdr.type == KG_MSG_ERROR)
			printf("REFUSED %s\n", ((const struct kg_ipc_error *)m.payload)->message);
		close(fd);
		return r;
	}
	memcpy(reg, m.payload, sizeof(*reg));
	return fd;
}

/* The uid-V side: receives accepted sockets over a socketpair, reports whether it could read
 * their original destination. */
static void other_uid_loop(int sp)
{
	for (;;) {
		char c, out[128];
		struct msghdr mh = {0};
		struct iovec iov = {.iov_base = &c, .iov_len = 1};
		union {
			struct cmsghdr a;
			char b[CMSG_SPACE(sizeof(int))];
		} ctl;
		int fd;

		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.b;
		mh.msg_controllen = sizeof(ctl.b);
		if (recvmsg(sp, &mh, 0) <= 0)
			_exit(0);
		memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		c = ask_origdst(fd, out, sizeof(out)) == 0 ? 'A' : 'D';
		close(fd);
		if (write(sp, &c, 1) != 1)
			_exit(1);
	}
}

static char other_verdict(int sp, int fd)
{
	char c = '?';
	struct msghdr mh = {0};
	struct iovec iov = {.iov_base = &c, .iov_len = 1};
	union {
		struct cmsghdr a;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct cmsghdr *cm;

	memset(&ctl, 0, sizeof(ctl));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(sp, &mh, 0) != 1 || read(sp, &c, 1) != 1)
		return '?';
	return c;
}

/* KG_MSG_CLIENT_ROUTE_STATE from a control line: "direct REASON" or "steer". -EINVAL for
 * anything else. */
static int send_route_state(int ipc, const char *line)
{
	struct kg_ipc_route_state rs = {0};

	if (strncmp(line, "direct", 6) == 0) {
		rs.direct = 1;
		snprintf(rs.reason, sizeof(rs.reason), "%s", line[6] == ' ' ? line + 7 : "");
	} else if (strcmp(line, "steer") != 0) {
		return -EINVAL;
	}
	return kg_ipc_send(ipc, KG_MSG_CLIENT_ROUTE_STATE, 77, &rs, sizeof(rs), NULL, 0);
}

static void print_route_answer(const struct kg_ipc_msg *m)
{
	if (m->hdr.type == KG_MSG_OK)
		printf("ROUTE OK\n");
	else if (m->hdr.type == KG_MSG_ERROR)
		printf("ROUTE ERROR %s\n", ((const struct kg_ipc_error *)m->payload)->message);
	fflush(stdout);
}

/* A route report for 192.0.2.10:443 with host ("-": none) and route; uid as given (a
 * well-behaved client says 0). 0 or -errno. */
static int send_report(int ipc, uint32_t seq, uint32_t uid, const char *host, const char *route)
{
	static const uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10};
	struct kg_ipc_route rt;
	int r = kg_ipc_route_encode(&rt, ip, 443, strcmp(host, "-") == 0 ? "" : host, route);

	if (r < 0)
		return r;
	rt.uid = uid;
	return kg_ipc_send(ipc, KG_MSG_CLIENT_ROUTE, seq, &rt, sizeof(rt), NULL, 0);
}

/* "report HOST ROUTE...", "burst N HOST ROUTE...", "forge UID HOST ROUTE...": 1 when the line
 * was one of these, 0 when not. */
static int control_report(int ipc, char *line)
{
	char *words[3] = {NULL, NULL, NULL}, *p = line;
	unsigned long n = 1, uid = 0, i, sent = 0;
	int r = 0, k, nw;

	if (strncmp(line, "report ", 7) == 0)
		nw = 1;
	else if (strncmp(line, "burst ", 6) == 0 || strncmp(line, "forge ", 6) == 0)
		nw = 2;
	else
		return 0;
	/* The command and nw words, then the rest is the route. */
	for (k = 0; k <= nw; k++) {
		char *sp = strchr(p, ' ');

		if (!sp)
			return 0;
		*sp = '\0';
		if (k > 0)
			words[k - 1] = p;
		p = sp + 1;
	}
	if (line[0] == 'b')
		n = strtoul(words[0], NULL, 10);
	if (line[0] == 'f')
		uid = strtoul(words[0], NULL, 10);
	for (i = 0; i < n; i++) {
		struct pollfd out = {.fd = ipc, .events = POLLOUT};

		r = send_report(ipc, 0, (uint32_t)uid, words[nw - 1], p);
		/* A full socket: wait for room (the service reads on), at most a second. */
		if (r == -EAGAIN && poll(&out, 1, 1000) == 1)
			r = send_report(ipc, 0, (uint32_t)uid, words[nw - 1], p);
		if (r < 0)
			break;
		sent++;
	}
	if (line[0] == 'b')
		printf("BURST sent=%lu\n", sent);
	else
		printf("REPORT %s\n", r < 0 ? strerror(-r) : "sent");
	fflush(stdout);
	return 1;
}

/* Whole lines from the control FIFO (kept open for writing by ourselves, so no EOF). */
static void control_read(int fd, int ipc, char *acc, size_t cap, size_t *len)
{
	ssize_t n = read(fd, acc + *len, cap - 1 - *len);
	char *nl;

	if (n <= 0)
		return;
	*len += (size_t)n;
	acc[*len] = '\0';
	while ((nl = strchr(acc, '\n'))) {
		*nl = '\0';
		if (control_report(ipc, acc))
			;
		else if (send_route_state(ipc, acc) < 0)
			printf("ROUTE BADLINE %s\n", acc);
		*len -= (size_t)(nl + 1 - acc);
		memmove(acc, nl + 1, *len + 1);
	}
	if (*len == cap - 1)
		*len = 0;
}

static int cmd_route_state(int argc, char **argv)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m = {0};
	struct kg_ipc_route_state rs = {0};
	int fd, r;

	if (argc < 2 || (strcmp(argv[1], "direct") != 0 && strcmp(argv[1], "steer") != 0))
		return 2;
	rs.direct = strcmp(argv[1], "direct") == 0;
	if (rs.direct && argc > 2)
		snprintf(rs.reason, sizeof(rs.reason), "%s", argv[2]);
	fd = kg_ipc_connect(argv[0]);
	if (fd < 0) {
		printf("ERROR connect: %s\n", strerror(-fd));
		return 1;
	}
	/* Waits for the answer (a slow machine may take a while). */
	r = kg_ipc_call(fd, KG_MSG_CLIENT_ROUTE_STATE, &rs, sizeof(rs), buf.bytes,
			sizeof(buf.bytes), &m, NULL, 0, NULL, 5000);
	if (r < 0 && (r == -ETIMEDOUT || r == -ECONNRESET || m.hdr.type != KG_MSG_ERROR)) {
		printf("ERROR call: %s\n", strerror(-r));
		close(fd);
		return 1;
	}
	print_route_answer(&m);
	close(fd);
	return 0;
}

static int cmd_route_report(int argc, char **argv)
{
	kg_ipc_buf_t buf;
	struct kg_ipc_msg m = {0};
	struct pollfd p;
	int fd, r;

	if (argc < 1)
		return 2;
	fd = kg_ipc_connect(argv[0]);
	if (fd < 0) {
		printf("ERROR connect: %s\n", strerror(-fd));
		return 1;
	}
	r = send_report(fd, 77, 0, "www.example.test", "via p1:3128");
	p = (struct pollfd){.fd = fd, .events = POLLIN};
	if (r == 0 && poll(&p, 1, 5000) == 1)
		r = kg_ipc_recv(fd, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL);
	else if (r == 0)
		r = -ETIMEDOUT;
	if (r < 0) {
		printf("ERROR %s\n", strerror(-r));
		close(fd);
		return 1;
	}
	print_route_answer(&m);
	close(fd);
	return 0;
}

static int become(uid_t uid)
{
	if (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 || setresuid(uid, uid, uid) < 0)
		return -errno;
	return 0;
}

static int cmd_relay(int argc, char **argv)
{
	struct kg_ipc_registered reg;
	int fds[2] = {-1, -1}, ipc, sp[2] = {-1, -1}, i;
	size_t n_fds = 0;
	const char *self_addr = NULL, *env_uid = getenv("KG_PROBE_UID"), *control = NULL;
	int self_port = 0, ctl_fd = -1;
	char ctl_acc[256];
	size_t ctl_len = 0;
	long other = -1;

	if (argc < 1)
		return 2;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--other-uid") == 0 && i + 1 < argc)
			other = atol(argv[++i]);
		else if (strcmp(argv[i], "--self") == 0 && i + 2 < argc) {
			self_addr = argv[++i];
			self_port = atoi(argv[++i]);
		} else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
			control = argv[++i];
		else if (strcmp(argv[i], "--old") == 0)
			register_caps = 0;
		else if (strcmp(argv[i], "--system") == 0)
			register_system = true;
		else if (strcmp(argv[i], "--system-uids") == 0 && i + 1 < argc) {
			char *list = argv[++i], *tok, *save = NULL;

			register_system = true;
			for (tok = strtok_r(list, ",", &save);
			     tok && sys_rq.n_uids < KG_IPC_SYSTEM_UIDS_MAX;
			     tok = strtok_r(NULL, ",", &save))
				sys_rq.uids[sys_rq.n_uids++] = (uint32_t)strtoul(tok, NULL, 10);
		}
	}
	if (other >= 0) {
		pid_t pid;

		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			close(sp[0]);
			if (become((uid_t)other) < 0)
				_exit(1);
			other_uid_loop(sp[1]);
		}
		close(sp[1]);
	}
	if (env_uid && become((uid_t)atol(env_uid)) < 0) {
		printf("ERROR cannot become uid %s\n", env_uid);
		return 1;
	}
	ipc = do_register(argv[0], fds, &n_fds, &reg);
	if (ipc < 0) {
		printf("ERROR register: %s\n", strerror(-ipc));
		return 1;
	}
	if (control) {
		ctl_fd = open(control, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (ctl_fd < 0 || open(control, O_WRONLY | O_CLOEXEC) < 0) {
			printf("ERROR control %s: %s\n", control, strerror(errno));
			return 1;
		}
	}
	printf("REGISTERED %u %u\n", reg.port4, reg.port6);
	fflush(stdout);
	if (self_addr) {
		char peer[128] = "?", line[256] = "";
		int r =
		    connect_line(self_addr, self_port, 0, peer, sizeof(peer), line, sizeof(line));

		printf("SELF %s\n", r < 0 ? strerror(-r) : line);
		fflush(stdout);
	}
	for (;;) {
		struct pollfd p[4] = {
		    {.fd = fds[0], .events = POLLIN},
		    {.fd = n_fds > 1 ? fds[1] : -1, .events = POLLIN},
		    {.fd = ipc, .events = POLLIN},
		    {.fd = ctl_fd, .events = POLLIN},
		};
		int k;

		if (poll(p, 4, -1) < 0)
			continue;
		if (p[3].revents & POLLIN)
			control_read(ctl_fd, ipc, ctl_acc, sizeof(ctl_acc), &ctl_len);
		if (p[2].revents) {
			kg_ipc_buf_t buf;
			struct kg_ipc_msg m;
			int r = kg_ipc_recv(ipc, buf.bytes, sizeof(buf.bytes), &m, NULL, 0, NULL);

			if (r == -ECONNRESET) {
				printf("SERVICE GONE\n");
				return 0;
			}
			if (r == 0 && m.hdr.type == KG_MSG_NOTIFY_ACCEPT) {
				const struct kg_event *ev = m.payload;
				char d[128];

				kg_format_ip_port(ev->dst.ip, ev->dst.port, d, sizeof(d));
				printf("NOTIFY %s pid=%u comm=%.16s\n", d, ev->dst.pid,
				       ev->dst.comm);
				fflush(stdout);
			} else if (r == 0 && m.hdr.type == KG_MSG_CLIENT_WATCHED) {
				printf("WATCHED %u\n",
				       ((const struct kg_ipc_watched *)m.payload)->watched);
				fflush(stdout);
			} else if (r == 0 && m.hdr.seq == 77) {
				print_route_answer(&m);
			}
		}
		for (k = 0; k < 2; k++) {
			char out[160], line[256];
			int c, r;

			if (!(p[k].revents & POLLIN))
				continue;
			c = accept4(p[k].fd, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0)
				continue;
			line[0] = '\0';
			if (sp[0] >= 0)
				snprintf(line, sizeof(line), " OTHER=%s",
					 other_verdict(sp[0], c) == 'A' ? "answered" : "denied");
			r = ask_origdst(c, out, sizeof(out));
			if (r == 0)
				dprintf(c, "ORIGDST %s%s\n", out, line);
			else
				dprintf(c, "NOORIGDST %s%s\n", strerror(-r), line);
			printf("ACCEPTED %s%s\n", r == 0 ? out : "none", line);
			fflush(stdout);
			close(c);
		}
	}
}

static int cmd_register_twice(int argc, char **argv)
{
	struct kg_ipc_registered reg;
	int fds[2], a, b;
	size_t n = 0;

	if (argc < 1)
		return 2;
	a = do_register(argv[0], fds, &n, &reg);
	if (a < 0) {
		printf("FIRST FAILED %s\n", strerror(-a));
		return 1;
	}
	printf("FIRST OK\n");
	b = do_register(argv[0], fds, &n, &reg);
	if (b >= 0) {
		printf("SECOND OK\n");
		return 1;
	}
	printf("SECOND FAILED %s\n", strerror(-b));
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "connect") == 0)
		return cmd_connect(argc - 2, argv + 2);
	if (strcmp(argv[1], "relay") == 0)
		return cmd_relay(argc - 2, argv + 2);
	if (strcmp(argv[1], "route-state") == 0)
		return cmd_route_state(argc - 2, argv + 2);
	if (strcmp(argv[1], "route-report") == 0)
		return cmd_route_report(argc - 2, argv + 2);
	if (strcmp(argv[1], "register-twice") == 0)
		return cmd_register_twice(argc - 2, argv + 2);
	return 2;
}
