/* Unit tests of the network change watcher (src/client/route/netwatch.c): which rtnetlink
 * messages count (crafted datagrams, truncated and oversized lengths), the debounce through
 * the real loop with a fake clock and a socketpair standing in for the netlink socket, and,
 * where the test may make a network namespace (root), a real event: the loopback brought up.
 */

#include <check.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/loop.h"
#include "client/route/netwatch.h"

static union {
	struct nlmsghdr h;
	char b[4096];
} dgram;
static size_t dgram_len;

/* Appends one message of type with a payload of plen bytes (zeroed); returns the payload. */
static void *add_msg(uint16_t type, size_t plen)
{
	struct nlmsghdr *nh = (struct nlmsghdr *)(dgram.b + dgram_len);

	ck_assert_uint_le(dgram_len + NLMSG_SPACE(plen), sizeof(dgram.b));
	memset(nh, 0, NLMSG_SPACE(plen));
	nh->nlmsg_len = NLMSG_LENGTH(plen);
	nh->nlmsg_type = type;
	dgram_len += NLMSG_SPACE(plen);
	return NLMSG_DATA(nh);
}

static void reset(void)
{
	dgram_len = 0;
}

static bool route_msg(uint16_t type, uint8_t table, unsigned flags)
{
	struct rtmsg *rt;

	reset();
	rt = add_msg(type, sizeof(*rt));
	rt->rtm_table = table;
	rt->rtm_flags = flags;
	return kg_netwatch_relevant(dgram.b, dgram_len);
}

START_TEST(relevant_messages)
{
	struct ifaddrmsg *ifa;

	reset();
	ifa = add_msg(RTM_NEWADDR, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ck_assert(kg_netwatch_relevant(dgram.b, dgram_len));
	reset();
	add_msg(RTM_DELADDR, sizeof(struct ifaddrmsg));
	ck_assert(kg_netwatch_relevant(dgram.b, dgram_len));

	ck_assert(route_msg(RTM_NEWROUTE, RT_TABLE_MAIN, 0));
	ck_assert(route_msg(RTM_DELROUTE, RT_TABLE_MAIN, 0));
	ck_assert(route_msg(RTM_NEWROUTE, 100, 0));
	ck_assert(!route_msg(RTM_NEWROUTE, RT_TABLE_LOCAL, 0));
	ck_assert(!route_msg(RTM_DELROUTE, RT_TABLE_MAIN, RTM_F_CLONED));

	/* Links, neighbours: not changes. */
	reset();
	add_msg(RTM_NEWLINK, sizeof(struct ifinfomsg));
	add_msg(RTM_NEWNEIGH, 12);
	ck_assert(!kg_netwatch_relevant(dgram.b, dgram_len));
	/* ... but one change among them is. */
	add_msg(RTM_NEWADDR, sizeof(struct ifaddrmsg));
	ck_assert(kg_netwatch_relevant(dgram.b, dgram_len));
	/* Overrun. */
	reset();
	add_msg(NLMSG_OVERRUN, 0);
	ck_assert(kg_netwatch_relevant(dgram.b, dgram_len));
}
END_TEST

START_TEST(malformed_messages)
{
	struct nlmsghdr *nh;

	ck_assert(!kg_netwatch_relevant(dgram.b, 0));
	/* Payload shorter than the message's fixed header. */
	reset();
	add_msg(RTM_NEWADDR, 2);
	ck_assert(!kg_netwatch_relevant(dgram.b, dgram_len));
	reset();
	add_msg(RTM_NEWROUTE, 4);
	ck_assert(!kg_netwatch_relevant(dgram.b, dgram_len));
	/* A datagram cut inside the header, and a length beyond the datagram. */
	reset();
	add_msg(RTM_NEWADDR, sizeof(struct ifaddrmsg));
	ck_assert(!kg_netwatch_relevant(dgram.b, 8));
	ck_assert(!kg_netwatch_relevant(dgram.b, NLMSG_LENGTH(sizeof(struct ifaddrmsg)) - 1));
	nh = &dgram.h;
	nh->nlmsg_len = 4000;
	ck_assert(!kg_netwatch_relevant(dgram.b, dgram_len));
	/* A length below the header: the walk stops. */
	nh->nlmsg_len = 3;
	ck_assert(!kg_netwatch_relevant(dgram.b, dgram_len));
}
END_TEST

/* --- debounce through the loop -------------------------------------------------------------- */

static uint64_t fake_now;
static int calls;

static uint64_t fake_clock(void)
{
	return fake_now;
}

static void on_change(void *ud)
{
	ck_assert_ptr_eq(ud, &calls);
	calls++;
}

static void send_dgram(int fd)
{
	ck_assert_int_eq(send(fd, dgram.b, dgram_len, 0), (ssize_t)dgram_len);
}

START_TEST(debounce)
{
	struct kg_netwatch *w;
	int sv[2];

	ck_assert_int_eq(kg_loop_init(), 0);
	fake_now = 1000000;
	kg_loop_set_clock(fake_clock);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	calls = 0;
	w = kg_netwatch_start_fd(sv[0], 1000, on_change, &calls);
	ck_assert_ptr_nonnull(w);

	/* A burst of three changes and a link event. */
	reset();
	add_msg(RTM_NEWADDR, sizeof(struct ifaddrmsg));
	send_dgram(sv[1]);
	send_dgram(sv[1]);
	route_msg(RTM_NEWROUTE, RT_TABLE_MAIN, 0);
	send_dgram(sv[1]);
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(calls, 0);
	fake_now += 999000;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(calls, 0);
	fake_now += 1000;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(calls, 1);

	/* Nothing that matters: no call. */
	route_msg(RTM_NEWROUTE, RT_TABLE_LOCAL, 0);
	send_dgram(sv[1]);
	ck_assert_int_eq(kg_loop_pass(0), 0);
	fake_now += 5000000;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(calls, 1);

	/* A burst that goes on is reported once per interval. */
	route_msg(RTM_DELROUTE, RT_TABLE_MAIN, 0);
	for (int i = 0; i < 5; i++) {
		send_dgram(sv[1]);
		ck_assert_int_eq(kg_loop_pass(0), 0);
		fake_now += 600000;
		ck_assert_int_eq(kg_loop_pass(0), 0);
	}
	ck_assert_int_eq(calls, 3);

	/* Stopped with a call pending: it never comes. */
	send_dgram(sv[1]);
	ck_assert_int_eq(kg_loop_pass(0), 0);
	kg_netwatch_stop(w);
	fake_now += 5000000;
	ck_assert_int_eq(kg_loop_pass(0), 0);
	ck_assert_int_eq(calls, 3);
	kg_netwatch_stop(NULL);
	close(sv[1]);
	kg_loop_cleanup();
	kg_loop_set_clock(NULL);
}
END_TEST

/* --- the kernel's events ---------------------------------------------------------------------- */

START_TEST(real_netlink)
{
	struct kg_netwatch *w;
	struct ifreq ifr;
	struct timespec t0, t;
	int s;

	ck_assert_int_eq(kg_loop_init(), 0);
	/* A namespace of the test's own (check runs each test in a child process); without the
	 * privilege to make one, only the socket is checked. */
	if (unshare(CLONE_NEWNET) < 0) {
		w = kg_netwatch_start(100, on_change, &calls);
		ck_assert_ptr_nonnull(w);
		kg_netwatch_stop(w);
		kg_loop_cleanup();
		return;
	}
	calls = 0;
	w = kg_netwatch_start(100, on_change, &calls);
	ck_assert_ptr_nonnull(w);
	/* Bringing lo up adds 127.0.0.1 and ::1 and their routes. */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ck_assert_int_eq(kg_loop_pass(100), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (calls == 0 && t.tv_sec - t0.tv_sec < 5);
	ck_assert_int_eq(calls, 1);
	kg_netwatch_stop(w);
	kg_loop_cleanup();
}
END_TEST

static Suite *netwatch_suite(void)
{
	Suite *s = suite_create("netwatch");
	TCase *c = tcase_create("netwatch");

	tcase_add_test(c, relevant_messages);
	tcase_add_test(c, malformed_messages);
	tcase_add_test(c, debounce);
	tcase_add_test(c, real_netlink);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netwatch_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
