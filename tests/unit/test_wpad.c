/* Unit tests of WPAD discovery (src/client/route/wpad.c): option 252 in systemd-networkd,
 * NetworkManager and ISC dhclient lease files (real formats, malformed ones), the lease
 * directories in a temporary directory, the resolv.conf search list, the DNS walk (public
 * suffixes, TLDs, single labels, trailing dots, IDNs) and the retry schedule.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client/route/wpad.h"

#define URL_A "http://wpad.corp.example.com/wpad.dat"

/* systemd-networkd's lease file (v252), option 252 kept as a private option, hex. */
static const char networkd_lease[] =
    "# This is private data. Do not parse.\n"
    "ADDRESS=192.168.122.50\n"
    "NETMASK=255.255.255.0\n"
    "ROUTER=192.168.122.1\n"
    "SERVER_ADDRESS=192.168.122.1\n"
    "T1=1800\n"
    "T2=3150\n"
    "LIFETIME=3600\n"
    "DNS=192.168.122.1\n"
    "DOMAINNAME=corp.example.com\n"
    "CLIENTID=ff6a4b3e9f00020000ab11a1b2c3d4e5f60718\n"
    /* "http://wpad.corp.example.com/wpad.dat" and a trailing NUL, as Windows servers send */
    "OPTION_252=687474703a2f2f777061642e636f72702e6578616d706c652e636f6d2f777061642e64617400\n";

/* NetworkManager's internal (nettools) client: its lease holds the address only. */
static const char nm_internal_lease[] = "# This is private data. Do not parse.\n"
					"ADDRESS=192.168.122.50\n";

/* NetworkManager's dhclient backend (its dhclient.conf names code 252 "wpad"). */
static const char nm_dhclient_lease[] = "lease {\n"
					"  interface \"enp1s0\";\n"
					"  fixed-address 192.168.122.50;\n"
					"  option subnet-mask 255.255.255.0;\n"
					"  option routers 192.168.122.1;\n"
					"  option dhcp-lease-time 3600;\n"
					"  option dhcp-message-type 5;\n"
					"  option domain-name-servers 192.168.122.1;\n"
					"  option dhcp-server-identifier 192.168.122.1;\n"
					"  option wpad \"http://old.example.com/wpad.dat\";\n"
					"  option domain-name \"corp.example.com\";\n"
					"  renew 1 2026/12/07 08:00:00;\n"
					"  rebind 1 2026/12/07 08:30:00;\n"
					"  expire 1 2026/12/07 09:00:00;\n"
					"}\n"
					"lease {\n"
					"  interface \"enp1s0\";\n"
					"  fixed-address 192.168.122.50;\n"
					"  option wpad \"" URL_A "\\000\";\n"
					"  renew 1 2026/12/07 10:00:00;\n"
					"  rebind 1 2026/12/07 10:30:00;\n"
					"  expire 1 2026/12/07 11:00:00;\n"
					"}\n";

/* 2026-12-07 09:30:00 UTC, between the expiry of the two leases above */
#define NOW_MID utc(2026, 12, 7, 9, 30, 0)

static time_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = s};

	return timegm(&tm);
}

static int keyfile(const char *s, char *url)
{
	return kg_wpad_parse_keyfile(s, strlen(s), url, KG_WPAD_URL_MAX);
}

static int dhclient(const char *s, time_t now, char *url)
{
	return kg_wpad_parse_dhclient(s, strlen(s), now, url, KG_WPAD_URL_MAX);
}

START_TEST(networkd_format)
{
	char url[KG_WPAD_URL_MAX];

	ck_assert_int_eq(
	    kg_wpad_parse_keyfile(networkd_lease, sizeof(networkd_lease) - 1, url, sizeof(url)), 0);
	ck_assert_str_eq(url, URL_A);
	ck_assert_int_eq(keyfile(nm_internal_lease, url), -ENOENT);
	ck_assert_int_eq(keyfile("", url), -ENOENT);
	/* Upper-case hex, CRLF, leading blanks. */
	ck_assert_int_eq(keyfile("  OPTION_252=687474703A2F2F782F\r\n", url), 0);
	ck_assert_str_eq(url, "http://x/");
	/* Not our key. */
	ck_assert_int_eq(keyfile("OPTION_253=687474703a2f2f782f\nXOPTION_252=00\n", url), -ENOENT);
	/* Malformed values. */
	ck_assert_int_eq(keyfile("OPTION_252=6874747\n", url), -EBADMSG);
	ck_assert_int_eq(keyfile("OPTION_252=zz74\n", url), -EBADMSG);
	ck_assert_int_eq(keyfile("OPTION_252=\n", url), -EBADMSG);
	ck_assert_int_eq(keyfile("OPTION_252=0000\n", url), -EBADMSG);
	/* ftp://x/ and file:///etc/passwd: not fetched. */
	ck_assert_int_eq(keyfile("OPTION_252=6674703a2f2f782f\n", url), -EBADMSG);
	ck_assert_int_eq(keyfile("OPTION_252=66696c653a2f2f2f6574632f706173737764\n", url),
			 -EBADMSG);
	/* "http://" with no host, and a URL with a control byte. */
	ck_assert_int_eq(keyfile("OPTION_252=687474703a2f2f\n", url), -EBADMSG);
	ck_assert_int_eq(keyfile("OPTION_252=687474703a2f2f0a782f\n", url), -EBADMSG);
	/* More than a DHCP option can hold. */
	{
		char big[700] = "OPTION_252=";

		memset(big + 11, '6', 600);
		big[611] = '\0';
		ck_assert_int_eq(keyfile(big, url), -EBADMSG);
	}
	/* A URL that does not fit the caller's buffer. */
	ck_assert_int_eq(kg_wpad_parse_keyfile("OPTION_252=687474703a2f2f782f", 29, url, 5),
			 -E2BIG);
	/* Not NUL-terminated: the length is honoured. */
	ck_assert_int_eq(
	    kg_wpad_parse_keyfile("OPTION_252=687474703a2f2f782fXX", 29, url, sizeof(url)), 0);
	ck_assert_str_eq(url, "http://x/");
}
END_TEST

START_TEST(dhclient_format)
{
	char url[KG_WPAD_URL_MAX];

	/* The last lease block wins; expiry not checked. */
	ck_assert_int_eq(dhclient(nm_dhclient_lease, 0, url), 0);
	ck_assert_str_eq(url, URL_A);
	/* At 09:30 the first lease has expired, the second not. */
	ck_assert_int_eq(dhclient(nm_dhclient_lease, NOW_MID, url), 0);
	ck_assert_str_eq(url, URL_A);
	/* At 12:00 both have: none is used. */
	ck_assert_int_eq(dhclient(nm_dhclient_lease, utc(2026, 12, 7, 12, 0, 0), url), -ENOENT);
	/* The first block alone before it expires. */
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/w.dat\";\n"
				  " expire 1 2026/12/07 09:00:00;\n}\n"
				  "lease {\n option domain-name \"x\";\n}\n",
				  utc(2026, 12, 7, 8, 59, 59), url),
			 0);
	ck_assert_str_eq(url, "http://a/w.dat");
	/* expire never, expire epoch. */
	ck_assert_int_eq(
	    dhclient("lease {\n option wpad \"http://a/\";\n expire never;\n}\n", NOW_MID, url), 0);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/\";\n expire epoch 1000; "
				  "# 1970\n}\n",
				  NOW_MID, url),
			 -ENOENT);
	/* An unnamed option 252: dhclient prints it as hex bytes (or a string). */
	ck_assert_int_eq(dhclient("lease {\n  option unknown-252 "
				  "68:74:74:70:3a:2f:2f:77:2f:0;\n}\n",
				  0, url),
			 0);
	ck_assert_str_eq(url, "http://w/");
	ck_assert_int_eq(dhclient("lease {\n  option option-252 \"https://w/p.pac\";\n}\n", 0, url),
			 0);
	ck_assert_str_eq(url, "https://w/p.pac");
	/* Escapes. */
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://w/\\141\\\\b\";\n}\n", 0, url),
			 0);
	ck_assert_str_eq(url, "http://w/a\\b");
	/* Outside a lease block, DHCPv6 blocks, other options: nothing. */
	ck_assert_int_eq(dhclient("option wpad \"http://a/\";\n", 0, url), -ENOENT);
	ck_assert_int_eq(dhclient("lease6 {\n option wpad \"http://a/\";\n}\n", 0, url), -ENOENT);
	ck_assert_int_eq(dhclient("lease {\n option wpadx \"http://a/\";\n}\n", 0, url), -ENOENT);
	/* A block never closed counts for nothing. */
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/\";\n", 0, url), -ENOENT);
	/* Malformed values. */
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/;\n}\n", 0, url), -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/\"\n}\n", 0, url), -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad 68:zz;\n}\n", 0, url), -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"\\777\";\n}\n", 0, url), -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"gopher://a/\";\n}\n", 0, url), -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"http://a/\\012x\";\n}\n", 0, url),
			 -EBADMSG);
	ck_assert_int_eq(dhclient("lease {\n option wpad \"\\", 0, url), -ENOENT);
}
END_TEST

START_TEST(too_large)
{
	static char big[KG_WPAD_FILE_MAX + 2];
	char url[KG_WPAD_URL_MAX];

	memset(big, '\n', sizeof(big));
	ck_assert_int_eq(kg_wpad_parse_keyfile(big, sizeof(big), url, sizeof(url)), -E2BIG);
	ck_assert_int_eq(kg_wpad_parse_dhclient(big, sizeof(big), 0, url, sizeof(url)), -E2BIG);
	ck_assert_int_eq(kg_wpad_parse_keyfile(big, KG_WPAD_FILE_MAX, url, sizeof(url)), -ENOENT);
}
END_TEST

static char tmp[256];

static void mkdirs(void)
{
	char p[300];

	snprintf(tmp, sizeof(tmp), "%s/kg-wpad-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(p, sizeof(p), "%s/networkd", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/nm", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/dhcp", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
}

static void put(const char *rel, const char *content, time_t mtime)
{
	char p[512];
	struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", tmp, rel);
	f = fopen(p, "w");
	ck_assert_ptr_nonnull(f);
	fputs(content, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, p, ts, 0), 0);
}

static struct kg_wpad_dirs dirs(void)
{
	static char n[300], m[300], d[300];

	snprintf(n, sizeof(n), "%s/networkd", tmp);
	snprintf(m, sizeof(m), "%s/nm", tmp);
	snprintf(d, sizeof(d), "%s/dhcp", tmp);
	return (struct kg_wpad_dirs){.networkd = n, .nm = m, .dhclient = d};
}

static void rmdirs(void)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(lease_directories)
{
	struct kg_wpad_dirs d;
	char url[KG_WPAD_URL_MAX], from[512], want[512];

	mkdirs();
	d = dirs();
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), from, sizeof(from)), -ENOENT);
	/* Names that are not leases are not read. */
	put("networkd/lo", "OPTION_252=687474703a2f2f6c6f2f\n", 3000);
	put("nm/NetworkManager-intern.conf", "OPTION_252=687474703a2f2f6c6f2f\n", 3000);
	put("dhcp/dhclient6.leases", "lease {\n option wpad \"http://lo/\";\n}\n", 3000);
	put("nm/internal-1234-enp1s0.lease", nm_internal_lease, 2500);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), from, sizeof(from)), -ENOENT);

	put("networkd/2", networkd_lease, 1000);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), from, sizeof(from)), 0);
	ck_assert_str_eq(url, URL_A);
	snprintf(want, sizeof(want), "%s/networkd/2", tmp);
	ck_assert_str_eq(from, want);

	/* The newest lease wins. */
	put("nm/dhclient-1234-wlan0.lease", "lease {\n option wpad \"http://nm/wpad.dat\";\n}\n",
	    2000);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), NULL, 0), 0);
	ck_assert_str_eq(url, "http://nm/wpad.dat");
	put("dhcp/dhclient.enp1s0.leases", "lease {\n option wpad \"http://isc/wpad.dat\";\n}\n",
	    2200);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), from, sizeof(from)), 0);
	ck_assert_str_eq(url, "http://isc/wpad.dat");
	/* A newer lease without a usable URL does not hide an older one. */
	put("networkd/3", "OPTION_252=zz\n", 4000);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), from, sizeof(from)), 0);
	ck_assert_str_eq(url, "http://isc/wpad.dat");
	/* Missing directories are skipped. */
	d.networkd = "/nonexistent/kg-test";
	d.nm = NULL;
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), NULL, 0), 0);
	ck_assert_int_eq(kg_wpad_dhcp_url(NULL, 0, url, sizeof(url), NULL, 0), -ENOENT);
	rmdirs();
}
END_TEST

START_TEST(lease_file_bounded)
{
	struct kg_wpad_dirs d;
	char url[KG_WPAD_URL_MAX];
	char *big = malloc(KG_WPAD_FILE_MAX + 100);

	ck_assert_ptr_nonnull(big);
	mkdirs();
	d = dirs();
	memset(big, '#', KG_WPAD_FILE_MAX + 99);
	big[KG_WPAD_FILE_MAX + 99] = '\0';
	memcpy(big, "OPTION_252=687474703a2f2f782f\n", 30);
	put("networkd/7", big, 1000);
	ck_assert_int_eq(kg_wpad_dhcp_url(&d, 0, url, sizeof(url), NULL, 0), -ENOENT);
	free(big);
	rmdirs();
}
END_TEST

static void resolv(const char *s, struct kg_wpad_search *out)
{
	kg_wpad_parse_resolv(s, strlen(s), out);
}

START_TEST(resolv_search)
{
	struct kg_wpad_search s;

	resolv("# Generated by NetworkManager\nsearch corp.example.co.uk Example.COM.\n"
	       "nameserver 192.168.122.1\n",
	       &s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.domain[0], "corp.example.co.uk");
	ck_assert_str_eq(s.domain[1], "example.com");
	/* The last search or domain line wins. */
	resolv("search a.example\ndomain b.example c.example\n", &s);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_str_eq(s.domain[0], "b.example");
	resolv("domain b.example\nsearch\tc.example  d.example\t\n", &s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.domain[1], "d.example");
	/* Comments; "searchx" is not the keyword; the root domain, bad names and an IDN not in
	 * its A-label form are skipped; duplicates dropped. */
	resolv("# search x.example\n; search y.example\nsearchx z.example\n"
	       "search . ok.example bad..example -bad.example bad-.example b\xc3\xbc"
	       "cher.example xn--bcher-kva.example OK.example under_score.example\n",
	       &s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.domain[0], "ok.example");
	ck_assert_str_eq(s.domain[1], "xn--bcher-kva.example");
	/* At most KG_WPAD_SEARCH_MAX. */
	resolv("search a1.x a2.x a3.x a4.x a5.x a6.x a7.x a8.x a9.x a10.x\n", &s);
	ck_assert_uint_eq(s.n, KG_WPAD_SEARCH_MAX);
	ck_assert_str_eq(s.domain[7], "a8.x");
	resolv("nameserver 1.1.1.1\n", &s);
	ck_assert_uint_eq(s.n, 0);
	/* A search line without its newline at the end of the buffer. */
	kg_wpad_parse_resolv("search a.example b.exampleXYZ", 26, &s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.domain[1], "b.example");
}
END_TEST

START_TEST(domain_names)
{
	char d[KG_WPAD_DOMAIN_MAX], long_name[300];

	ck_assert(kg_wpad_domain_normalize("A.b.", 4, d));
	ck_assert_str_eq(d, "a.b");
	ck_assert(!kg_wpad_domain_normalize(".", 1, d));
	ck_assert(!kg_wpad_domain_normalize("", 0, d));
	ck_assert(!kg_wpad_domain_normalize(".a", 2, d));
	ck_assert(!kg_wpad_domain_normalize("a..", 3, d));
	/* 63-byte labels are fine, 64 not; 253 bytes in all at most. */
	memset(long_name, 'a', 64);
	ck_assert(kg_wpad_domain_normalize(long_name, 63, d));
	ck_assert(!kg_wpad_domain_normalize(long_name, 64, d));
	for (int i = 0; i < 300; i++)
		long_name[i] = i % 10 == 9 ? '.' : 'a';
	ck_assert(kg_wpad_domain_normalize(long_name, 253, d) == (long_name[252] != '.'));
	ck_assert(!kg_wpad_domain_normalize(long_name, 255, d));
}
END_TEST

static void walk(const char *domain, size_t n, const char *const *want)
{
	struct kg_wpad_candidates c = {.n = 0};

	ck_assert_uint_eq(kg_wpad_dns_candidates(domain, &c), n);
	ck_assert_uint_eq(c.n, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(c.url[i], want[i]);
}

START_TEST(dns_walk)
{
	walk("corp.example.co.uk", 2,
	     (const char *const[]){"http://wpad.corp.example.co.uk/wpad.dat",
				   "http://wpad.example.co.uk/wpad.dat"});
	walk("a.b.example.com.", 3,
	     (const char *const[]){"http://wpad.a.b.example.com/wpad.dat",
				   "http://wpad.b.example.com/wpad.dat",
				   "http://wpad.example.com/wpad.dat"});
	walk("Example.Com", 1, (const char *const[]){"http://wpad.example.com/wpad.dat"});
	/* Public suffixes, TLDs and single labels: nothing. */
	walk("co.uk", 0, NULL);
	walk("com", 0, NULL);
	walk("com.", 0, NULL);
	walk("uk", 0, NULL);
	walk("intranet", 0, NULL);
	walk("github.io", 0, NULL);
	walk("xn--55qx5d.cn", 0, NULL);
	/* An unknown TLD counts as a suffix: corp.lan is used, lan never. */
	walk("x.corp.lan", 2,
	     (const char *const[]){"http://wpad.x.corp.lan/wpad.dat",
				   "http://wpad.corp.lan/wpad.dat"});
	/* The private section of the list: a user's site under github.io, never github.io. */
	walk("team.github.io", 1, (const char *const[]){"http://wpad.team.github.io/wpad.dat"});
	/* IDNs: the A-label form walks, the raw UTF-8 form is refused. */
	walk("corp.xn--55qx5d.cn", 1,
	     (const char *const[]){"http://wpad.corp.xn--55qx5d.cn/wpad.dat"});
	walk("corp.\xe5\x85\xac\xe5\x8f\xb8.cn", 0, NULL);
	walk("", 0, NULL);
	walk("a..example.com", 0, NULL);
}
END_TEST

START_TEST(dns_walk_bounded)
{
	struct kg_wpad_candidates c = {.n = 0};
	char d[64];

	/* Duplicates are not added twice. */
	ck_assert_uint_eq(kg_wpad_dns_candidates("a.example.com", &c), 2);
	ck_assert_uint_eq(kg_wpad_dns_candidates("b.example.com", &c), 1);
	ck_assert_uint_eq(c.n, 3);
	for (int i = 0; c.n < KG_WPAD_CANDIDATES_MAX; i++) {
		snprintf(d, sizeof(d), "h%d.example.org", i);
		kg_wpad_dns_candidates(d, &c);
	}
	ck_assert_uint_eq(kg_wpad_dns_candidates("x.example.net", &c), 0);
	ck_assert_uint_eq(c.n, KG_WPAD_CANDIDATES_MAX);
}
END_TEST

START_TEST(all_candidates)
{
	struct kg_wpad_candidates c;
	struct kg_wpad_dirs d;
	char rc[400];

	mkdirs();
	d = dirs();
	put("networkd/2", networkd_lease, 1000);
	put("resolv.conf", "search corp.example.com example.com\n", 1000);
	snprintf(rc, sizeof(rc), "%s/resolv.conf", tmp);
	kg_wpad_candidates(&d, rc, 0, &c);
	ck_assert_uint_eq(c.n, 2);
	/* The DHCP URL first; wpad.corp.example.com/wpad.dat is the same URL, once. */
	ck_assert_str_eq(c.url[0], URL_A);
	ck_assert_str_eq(c.url[1], "http://wpad.example.com/wpad.dat");
	kg_wpad_candidates(NULL, rc, 0, &c);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.url[0], URL_A);
	kg_wpad_candidates(NULL, "/nonexistent/resolv.conf", 0, &c);
	ck_assert_uint_eq(c.n, 0);
	rmdirs();
}
END_TEST

START_TEST(retry_schedule)
{
	/* A network change: at once. */
	ck_assert_uint_eq(kg_wpad_retry_delay(0, false), 0);
	ck_assert_uint_eq(kg_wpad_retry_delay(1, false), 8);
	ck_assert_uint_eq(kg_wpad_retry_delay(2, false), 32);
	ck_assert_uint_eq(kg_wpad_retry_delay(3, false), 120);
	ck_assert_uint_eq(kg_wpad_retry_delay(4, false), 4 * 3600);
	ck_assert_uint_eq(kg_wpad_retry_delay(1000, false), 4 * 3600);
	ck_assert_uint_eq(kg_wpad_retry_delay(0xffffffffu, false), 4 * 3600);
	ck_assert_uint_eq(kg_wpad_retry_delay(0, true), 12 * 3600);
	ck_assert_uint_eq(kg_wpad_retry_delay(5, true), 12 * 3600);
}
END_TEST

static Suite *wpad_suite(void)
{
	Suite *s = suite_create("wpad");
	TCase *c = tcase_create("wpad");

	tcase_add_test(c, networkd_format);
	tcase_add_test(c, dhclient_format);
	tcase_add_test(c, too_large);
	tcase_add_test(c, lease_directories);
	tcase_add_test(c, lease_file_bounded);
	tcase_add_test(c, resolv_search);
	tcase_add_test(c, domain_names);
	tcase_add_test(c, dns_walk);
	tcase_add_test(c, dns_walk_bounded);
	tcase_add_test(c, all_candidates);
	tcase_add_test(c, retry_schedule);
	suite_add_tcase(s, c);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wpad_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
