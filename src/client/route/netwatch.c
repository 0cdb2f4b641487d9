/* Network change watcher: rtnetlink address and route events, debounced (see netwatch.h). */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client/loop.h"
#include "client/route/netwatch.h"

#define RECV_BUF	 32768 /* bytes of one datagram read at most (the kernel's are <= 8 KiB) */
#define READS_PER_WAKEUP 64    /* datagrams read per wakeup; the rest on the next one */

struct kg_netwatch {
	struct kg_loop_source src;
	struct kg_loop_timer timer;
	int fd;
	unsigned debounce_ms;
	kg_netwatch_fn *fn;
	void *ud;
};

bool kg_netwatch_relevant(const void *buf, size_t len)
{
	const struct nlmsghdr *nh = buf;
	const struct rtmsg *rtm;
	int left = len > RECV_BUF ? RECV_BUF : (int)len;

	for (; NLMSG_OK(nh, left); nh = NLMSG_NEXT(nh, left)) {
		switch (nh->nlmsg_type) {
		case NLMSG_OVERRUN:
			return true;
		case RTM_NEWADDR:
		case RTM_DELADDR:
			if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
				return true;
			break;
		case RTM_NEWROUTE:
		case RTM_DELROUTE:
			if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg)))
				break;
			rtm = NLMSG_DATA(nh);
			if (rtm->rtm_table == RT_TABLE_LOCAL || (rtm->rtm_flags & RTM_F_CLONED))
				break;
			return true;
		default:
			break;
		}
	}
	return false;
}

static void changed(struct kg_netwatch *w)
{
	if (!kg_loop_timer_armed(&w->timer))
		(void)kg_loop_timer_arm(&w->timer, kg_loop_now() + w->debounce_ms * 1000ull);
}

static void on_timer(struct kg_loop_timer *t)
{
	struct kg_netwatch *w = KG_CONTAINER_OF(t, struct kg_netwatch, timer);

	w->fn(w->ud);
}

static void on_event(struct kg_loop_source *s, uint32_t events)
{
	struct kg_netwatch *w = KG_CONTAINER_OF(s, struct kg_netwatch, src);
	static union {
		struct nlmsghdr h;
		char b[RECV_BUF];
	} buf;
	struct sockaddr_nl from;
	struct iovec iov = {.iov_base = buf.b, .iov_len = sizeof(buf.b)};
	struct msghdr mh;
	ssize_t n;

	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_name = &from;
		mh.msg_namelen = sizeof(from);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		n = recvmsg(w->fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == ENOBUFS)
				changed(w); /* events were lost */
			else if (errno != EINTR)
				return;
			continue;
		}
		if (n == 0)
			continue;
		/* Only the kernel's (a socket of the caller's has no netlink address). */
		if (mh.msg_namelen >= sizeof(from) && from.nl_family == AF_NETLINK &&
		    from.nl_pid != 0)
			continue;
		if ((mh.msg_flags & MSG_TRUNC) || kg_netwatch_relevant(buf.b, (size_t)n))
			changed(w);
	}
}

struct kg_netwatch *kg_netwatch_start_fd(int fd, unsigned debounce_ms, kg_netwatch_fn *fn, void *ud)
{
	struct kg_netwatch *w;
	int r;

	if (fd < 0 || !fn) {
		if (fd >= 0)
			close(fd);
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	w->fd = fd;
	w->debounce_ms = debounce_ms;
	w->fn = fn;
	w->ud = ud;
	w->src.kind = kg_loop_source_kind(on_event);
	w->timer.kind = kg_loop_timer_kind(on_timer);
	r = kg_loop_timer_reserve(1);
	if (r == 0)
		r = kg_loop_add(fd, &w->src, EPOLLIN);
	if (r < 0) {
		close(fd);
		free(w);
		errno = -r;
		return NULL;
	}
	return w;
}

struct kg_netwatch *kg_netwatch_start(unsigned debounce_ms, kg_netwatch_fn *fn, void *ud)
{
	struct sockaddr_nl a = {
	    .nl_family = AF_NETLINK,
	    .nl_groups =
		RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
	};
	int fd, e;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
	if (fd < 0)
		return NULL;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	return kg_netwatch_start_fd(fd, debounce_ms, fn, ud);
}

void kg_netwatch_stop(struct kg_netwatch *w)
{
	if (!w)
		return;
	kg_loop_timer_cancel(&w->timer);
	kg_loop_del(w->fd);
	close(w->fd);
	free(w);
}
