/* The configuration on the wire (shared/config_wire.c): every key survives the trip from the
 * service's struct to the client's, the message keeps the syntax older peers speak, and a value
 * out of type or range, a malformed or truncated message is refused with the struct untouched.
 * The schema of config.c drives the wire: every key it marks round-trips, and a value is refused
 * from the wire for the reason the file gives. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shared/config_schema.h"
#include "shared/config_wire.h"

static uint8_t payload[KG_IPC_MAX_PAYLOAD];

static struct kg_ipc_msg as_msg(size_t len)
{
	struct kg_ipc_msg m = {.hdr = {.type = KG_MSG_CONFIG}, .payload = payload, .len = len};

	return m;
}

/* A message of one entry; the other keys keep their defaults. */
static int decode_one(const char *key, const char *value, struct kg_config *out)
{
	char err[256];
	size_t len = 0;
	struct kg_ipc_msg m;

	ck_assert_int_eq(kg_ipc_config_add(payload, sizeof(payload), &len, key, value), 0);
	m = as_msg(len);
	return kg_config_wire_decode(&m, out, err, sizeof(err));
}

/* Every key set away from its default comes back the same. */
START_TEST(test_round_trip)
{
	static const uint16_t ports[] = {80, 443, 8080};
	struct kg_config in, out;
	struct kg_ipc_msg m;
	char err[256];
	size_t len;

	kg_config_defaults(&in);
	in.proxy.type = KG_PROXY_NONE;
	strcpy(in.proxy.url, "http://proxy.example.com:3128");
	strcpy(in.proxy.wpad_url, "http://wpad.example.com/wpad.dat");
	in.proxy.connection_timeout = KG_CONNECTION_TIMEOUT_MAX;
	in.proxy.request_timeout = 1;
	in.proxy.max_retries = 0;
	strcpy(in.kerberos.realm, "EXAMPLE.COM");
	strcpy(in.kerberos.ccache, "FILE:/tmp/krb5cc_%{uid}");
	strcpy(in.kerberos.spn, "HTTP@proxy.example.com");
	in.client.sniff_hostname = false;
	ck_assert_int_eq(kg_config_wire_encode(&in, ports, 3, payload, sizeof(payload), &len), 0);
	m = as_msg(len);
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.proxy.type, KG_PROXY_NONE);
	ck_assert_str_eq(out.proxy.url, in.proxy.url);
	ck_assert_str_eq(out.proxy.wpad_url, in.proxy.wpad_url);
	ck_assert_uint_eq(out.proxy.connection_timeout, KG_CONNECTION_TIMEOUT_MAX);
	ck_assert_uint_eq(out.proxy.request_timeout, 1);
	ck_assert_uint_eq(out.proxy.max_retries, 0);
	ck_assert_str_eq(out.kerberos.realm, in.kerberos.realm);
	ck_assert_str_eq(out.kerberos.ccache, in.kerberos.ccache);
	ck_assert_str_eq(out.kerberos.spn, in.kerberos.spn);
	ck_assert(!out.client.sniff_hostname);
	ck_assert_uint_eq(out.ebpf.n_target_ports, 3);
	ck_assert_uint_eq(out.ebpf.target_ports[2], 8080);
}
END_TEST

/* The exact bytes the service has always sent: older clients read them. */
START_TEST(test_wire_syntax)
{
	static const char expected[] = "proxy.type=http\0proxy.url=\0proxy.wpad_url=\0"
				       "proxy.connection_timeout=10\0proxy.request_timeout=30\0"
				       "proxy.max_retries=3\0kerberos.realm=\0kerberos.ccache=\0"
				       "kerberos.spn=\0client.sniff_hostname=true\0"
				       "ebpf.target_ports=80,443";
	static const uint16_t ports[] = {80, 443};
	struct kg_config cfg;
	size_t len;

	kg_config_defaults(&cfg);
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, 2, payload, sizeof(payload), &len), 0);
	ck_assert_uint_eq(len, sizeof(expected));
	ck_assert_mem_eq(payload, expected, sizeof(expected));
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, KG_MAX_TARGET_PORTS + 1, payload,
					       sizeof(payload), &len),
			 -EINVAL);
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, 2, payload, 40, &len), -ENOSPC);
}
END_TEST

/* Missing keys are the defaults (an older service), unknown ones are ignored (a newer one). */
START_TEST(test_defaults_and_unknown_keys)
{
	struct kg_config out, d;

	kg_config_defaults(&d);
	ck_assert_int_eq(decode_one("proxy.future_key", "anything", &out), 0);
	ck_assert_uint_eq(out.proxy.connection_timeout, d.proxy.connection_timeout);
	ck_assert_uint_eq(out.ebpf.n_target_ports, d.ebpf.n_target_ports);
	ck_assert(out.client.sniff_hostname);
	ck_assert_int_eq(decode_one("ebpf.target_ports", "", &out), 0);
	ck_assert_uint_eq(out.ebpf.n_target_ports, 0);
}
END_TEST

START_TEST(test_bad_values)
{
	static const char *const bad[][2] = {
	    {"proxy.type", "socks"},
	    {"proxy.connection_timeout", "0"},
	    {"proxy.connection_timeout", "601"},
	    {"proxy.request_timeout", "3601"},
	    {"proxy.max_retries", "11"},
	    {"proxy.max_retries", "-1"},
	    {"proxy.max_retries", "+3"},
	    {"proxy.max_retries", " 3"},
	    {"proxy.max_retries", "3 "},
	    {"proxy.max_retries", "0x3"},
	    {"proxy.max_retries", ""},
	    {"proxy.request_timeout", "99999999999999999999"},
	    {"client.sniff_hostname", "yes"},
	    {"client.sniff_hostname", ""},
	    {"ebpf.target_ports", "0"},
	    {"ebpf.target_ports", "65536"},
	    {"ebpf.target_ports", "80,"},
	    {"ebpf.target_ports", ",80"},
	    {"ebpf.target_ports", "80,,443"},
	    {"ebpf.target_ports", "80;443"},
	};
	struct kg_config out;
	size_t i;

	memset(&out, 0x5a, sizeof(out));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(decode_one(bad[i][0], bad[i][1], &out) == -EINVAL, "%s=%s", bad[i][0],
			      bad[i][1]);
	ck_assert_uint_eq(out.proxy.max_retries, 0x5a5a5a5a);
}
END_TEST

/* A value that does not fit its field is refused, not cut. */
START_TEST(test_too_long)
{
	char big[KG_NAME_MAX + 1], ports[KG_IPC_TEXT_MAX * 2];
	struct kg_config out;
	unsigned i;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(decode_one("kerberos.spn", big, &out), -EINVAL);
	big[KG_NAME_MAX - 1] = '\0';
	ck_assert_int_eq(decode_one("kerberos.spn", big, &out), 0);
	ports[0] = '\0';
	for (i = 0; i <= KG_MAX_TARGET_PORTS; i++)
		snprintf(ports + strlen(ports), sizeof(ports) - strlen(ports), "%s%u", i ? "," : "",
			 1000 + i);
	ck_assert_int_eq(decode_one("ebpf.target_ports", ports, &out), -EINVAL);
}
END_TEST

/* Every truncation of a valid message is either refused or a prefix of its entries. */
START_TEST(test_truncated)
{
	static const uint16_t ports[] = {80, 443};
	struct kg_config cfg, out;
	struct kg_ipc_msg m;
	char err[256];
	size_t len, cut;
	int r;

	kg_config_defaults(&cfg);
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, 2, payload, sizeof(payload), &len), 0);
	for (cut = 0; cut < len; cut++) {
		m = as_msg(cut);
		r = kg_config_wire_decode(&m, &out, err, sizeof(err));
		if (cut > 0 && payload[cut - 1] == '\0')
			ck_assert_int_eq(r, 0);
		else if (cut > 0)
			ck_assert_int_eq(r, -EBADMSG);
	}
	payload[0] = '=';
	m = as_msg(len);
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), -EBADMSG);
	m.hdr.type = KG_MSG_STATUS;
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), -EBADMSG);
}
END_TEST

/* A struct with every wire key away from its default. */
static void non_defaults(struct kg_config *c)
{
	kg_config_defaults(c);
	c->proxy.type = KG_PROXY_NONE;
	strcpy(c->proxy.url, "http://proxy.example.com:3128");
	strcpy(c->proxy.wpad_url, "http://wpad.example.com/wpad.dat");
	c->proxy.connection_timeout = KG_CONNECTION_TIMEOUT_MAX;
	c->proxy.request_timeout = 1;
	c->proxy.max_retries = 0;
	c->proxy.fallback = KG_FALLBACK_DIRECT;
	c->proxy.pac_timeout = KG_PAC_TIMEOUT_MAX;
	strcpy(c->proxy.ca_file, "/etc/kg/ca.pem");
	strcpy(c->proxy.client_cert, "/home/u/c.pem");
	strcpy(c->proxy.client_key, "/home/u/c.key");
	c->proxy.warm_connections = 0;
	c->proxy.warm_idle_timeout = KG_WARM_IDLE_TIMEOUT_MAX;
	strcpy(c->kerberos.realm, "EXAMPLE.COM");
	strcpy(c->kerberos.ccache, "FILE:/tmp/krb5cc_%{uid}");
	strcpy(c->kerberos.spn, "HTTP@proxy.example.com");
	c->kerberos.warn_before = 0;
	c->client.sniff_hostname = false;
	c->ebpf.target_ports[0] = 8080;
	c->ebpf.n_target_ports = 1;
}

static bool field_equal(const struct kg_key_spec *key, const struct kg_config *a,
			const struct kg_config *b)
{
	if (key->kind == KG_KEY_PORTS)
		return a->ebpf.n_target_ports == b->ebpf.n_target_ports &&
		       memcmp(a->ebpf.target_ports, b->ebpf.target_ports,
			      a->ebpf.n_target_ports * sizeof(uint16_t)) == 0;
	return memcmp((const char *)a + key->offset, (const char *)b + key->offset, key->size) == 0;
}

/* Whatever key the schema marks for the wire is in the message and comes back: a key added to
 * the table is covered without a line here (non_defaults() must give it a value, checked). */
START_TEST(test_schema_round_trip)
{
	struct kg_config in, out, d;
	struct kg_ipc_msg m;
	char err[256], k[KG_IPC_TEXT_MAX * 2], v[KG_IPC_TEXT_MAX * 2], name[128];
	size_t len, pos = 0, g, i;
	unsigned n_wire = 0, n_sent = 0;

	kg_config_defaults(&d);
	non_defaults(&in);
	ck_assert_int_eq(kg_config_wire_encode(&in, in.ebpf.target_ports, in.ebpf.n_target_ports,
					       payload, sizeof(payload), &len),
			 0);
	m = as_msg(len);
	while (kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)) == 1)
		n_sent++;
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), 0);
	for (g = 0; g < kg_config_n_groups; g++) {
		const struct kg_group_spec *group = &kg_config_groups[g];

		for (i = 0; i < group->n_keys; i++) {
			const struct kg_key_spec *key = &group->keys[i];

			snprintf(name, sizeof(name), "%s.%s", group->name, key->name);
			if (!key->wire) {
				ck_assert_msg(field_equal(key, &out, &d) ||
						  key->kind == KG_KEY_CUSTOM,
					      "%s is not sent but changed", name);
				continue;
			}
			n_wire++;
			ck_assert_msg(!field_equal(key, &in, &d), "%s: give it a value here", name);
			ck_assert_msg(field_equal(key, &in, &out), "%s did not come back", name);
		}
	}
	ck_assert_uint_eq(n_sent, n_wire);
	/* 13, the proxy.ca_file, client_cert, client_key of issue 14, and proxy.warm_connections
	 * and warm_idle_timeout of issue 15, kerberos.warn_before of issue 18 */
	ck_assert_uint_eq(n_wire, 19);
}
END_TEST

/* File text setting name (a "group.key") to value, as libconfig syntax. */
static void file_text(const char *name, const char *value, bool quote, char *out, size_t cap)
{
	const char *dot = strchr(name, '.');

	snprintf(out, cap, "%.*s = { %s = %s%s%s; };\n", (int)(dot - name), name, dot + 1,
		 quote ? "\"" : "", value, quote ? "\"" : "");
}

/* Every number the schema ranges is refused out of range from the file and from the wire with
 * one reason, and accepted at its bounds by both. */
START_TEST(test_ranges_from_schema)
{
	char name[128], text[512], num[32], why[256], err[512], want[512];
	struct kg_config file_cfg, wire_cfg;
	size_t g, i;
	unsigned checked = 0;

	for (g = 0; g < kg_config_n_groups; g++) {
		const struct kg_group_spec *group = &kg_config_groups[g];

		for (i = 0; i < group->n_keys; i++) {
			const struct kg_key_spec *key = &group->keys[i];
			long long bad[2] = {(long long)key->min - 1, (long long)key->max + 1};
			unsigned good[2] = {key->min, key->max};
			int b;

			if (key->kind != KG_KEY_UINT || !key->wire)
				continue;
			snprintf(name, sizeof(name), "%s.%s", group->name, key->name);
			for (b = 0; b < 2; b++) {
				snprintf(num, sizeof(num), "%u", good[b]);
				file_text(name, num, false, text, sizeof(text));
				ck_assert_int_eq(kg_config_parse(&file_cfg, text, "t", NULL, NULL,
								 err, sizeof(err)),
						 0);
				kg_config_defaults(&wire_cfg);
				ck_assert_int_eq(
				    kg_config_wire_set(&wire_cfg, name, num, why, sizeof(why)), 0);
				ck_assert(field_equal(key, &file_cfg, &wire_cfg));
				if (bad[b] < 0)
					continue; /* not a number on the wire: test_bad_values */
				snprintf(num, sizeof(num), "%lld", bad[b]);
				file_text(name, num, false, text, sizeof(text));
				ck_assert_int_eq(kg_config_parse(&file_cfg, text, "t", NULL, NULL,
								 err, sizeof(err)),
						 -EINVAL);
				ck_assert_int_eq(
				    kg_config_wire_set(&wire_cfg, name, num, why, sizeof(why)),
				    -EINVAL);
				snprintf(want, sizeof(want), "t:1: %s: %s", name, why);
				ck_assert_str_eq(err, want);
				checked++;
			}
		}
	}
	ck_assert_uint_ge(checked, 3);
}
END_TEST

/* The other checks of the schema say the same from both sides too. */
START_TEST(test_same_reason_as_file)
{
	static const struct {
		const char *key, *wire, *file, *file_key;
		bool quote;
	} cases[] = {
	    {"proxy.type", "socks", "socks", NULL, true},
	    {"proxy.url", "ftp://proxy", "ftp://proxy", NULL, true},
	    {"proxy.wpad_url", "http://a b/", "http://a b/", NULL, true},
	    {"kerberos.ccache", "FILE:%{nope}", "FILE:%{nope}", NULL, true},
	    {"ebpf.target_ports", "80,443,80", "[80, 443, 80]", "ebpf.target_ports[2]", false},
	    {"ebpf.target_ports", "0", "[0]", "ebpf.target_ports[0]", false},
	    {"ebpf.target_ports", "65536", "[65536]", "ebpf.target_ports[0]", false},
	};
	char text[512], why[512], err[1024], want[1024];
	struct kg_config c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		file_text(cases[i].key, cases[i].file, cases[i].quote, text, sizeof(text));
		ck_assert_msg(kg_config_parse(&c, text, "t", NULL, NULL, err, sizeof(err)) ==
				  -EINVAL,
			      "%s", text);
		kg_config_defaults(&c);
		ck_assert_int_eq(
		    kg_config_wire_set(&c, cases[i].key, cases[i].wire, why, sizeof(why)), -EINVAL);
		snprintf(want, sizeof(want), "t:1: %s: %s",
			 cases[i].file_key ? cases[i].file_key : cases[i].key, why);
		ck_assert_str_eq(err, want);
		ck_assert_int_eq(decode_one(cases[i].key, cases[i].wire, &c), -EINVAL);
	}
	/* Keys only the file has are not taken from the wire. */
	ck_assert_int_eq(kg_config_wire_set(&c, "log_level", "debug", why, sizeof(why)), -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&c, "ebpf.bypass", "10.0.0.0/8", why, sizeof(why)),
			 -ENOENT);
}
END_TEST

/* A proxy.url list travels as "proxy.url" then "proxy.url[1]"...; the new keys only when set. */
START_TEST(test_url_list)
{
	static const uint16_t ports[] = {80, 443};
	struct kg_config in, out;
	struct kg_ipc_msg m;
	char err[256], why[256], k[KG_IPC_TEXT_MAX * 2], v[KG_IPC_TEXT_MAX * 2];
	size_t len, pos = 0;
	unsigned i, n = 0;

	kg_config_defaults(&in);
	strcpy(in.proxy.url, "http://p0.example.com:3128");
	for (i = 0; i < KG_PROXY_URLS_MAX - 1; i++)
		snprintf(in.proxy.more_urls[i], KG_URL_MAX, "http://p%u.example.com:%u", i + 1,
			 3001 + i);
	in.proxy.n_more_urls = KG_PROXY_URLS_MAX - 1;
	ck_assert_int_eq(kg_config_wire_encode(&in, ports, 2, payload, sizeof(payload), &len), 0);
	m = as_msg(len);
	while (kg_ipc_config_next(&m, &pos, k, sizeof(k), v, sizeof(v)) == 1) {
		if (strcmp(k, "proxy.url[15]") == 0)
			ck_assert_str_eq(v, "http://p15.example.com:3015");
		n += strncmp(k, "proxy.url", 9) == 0;
		ck_assert(strcmp(k, "proxy.fallback") != 0 && strcmp(k, "proxy.pac_timeout") != 0);
		/* Unset TLS paths stay out: the message of an older configuration is unchanged. */
		ck_assert(strncmp(k, "proxy.ca_file", 13) != 0 &&
			  strncmp(k, "proxy.client_", 13) != 0);
	}
	ck_assert_uint_eq(n, KG_PROXY_URLS_MAX);
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), 0);
	ck_assert_str_eq(out.proxy.url, in.proxy.url);
	ck_assert_uint_eq(out.proxy.n_more_urls, KG_PROXY_URLS_MAX - 1);
	ck_assert(memcmp(out.proxy.more_urls, in.proxy.more_urls, sizeof(in.proxy.more_urls)) == 0);

	/* The longest list with the longest other values still fits one message. */
	for (i = 0; i < KG_PROXY_URLS_MAX - 1; i++) {
		memset(in.proxy.more_urls[i], 'a', KG_URL_MAX - 1);
		memcpy(in.proxy.more_urls[i], "http://p.example:1/", 19);
		in.proxy.more_urls[i][KG_URL_MAX - 1] = '\0';
	}
	memset(in.proxy.url, 'b', KG_URL_MAX - 1);
	memcpy(in.proxy.url, "http://p.example:1/", 19);
	in.proxy.url[KG_URL_MAX - 1] = '\0';
	memset(in.kerberos.ccache, 'c', KG_IPC_TEXT_MAX * 2 - 1);
	in.kerberos.ccache[KG_IPC_TEXT_MAX * 2 - 1] = '\0';
	memset(in.kerberos.spn, 's', KG_NAME_MAX - 1);
	memset(in.kerberos.realm, 'r', KG_NAME_MAX - 1);
	in.proxy.fallback = KG_FALLBACK_DIRECT;
	memset(in.proxy.ca_file, 'f', KG_IPC_TEXT_MAX * 2 - 1);
	in.proxy.ca_file[0] = '/';
	in.proxy.ca_file[KG_IPC_TEXT_MAX * 2 - 1] = '\0';
	strcpy(in.proxy.client_cert, in.proxy.ca_file);
	strcpy(in.proxy.client_key, in.proxy.ca_file);
	ck_assert_int_eq(kg_config_wire_encode(&in, ports, 2, payload, sizeof(payload), &len), 0);
	m = as_msg(len);
	ck_assert_int_eq(kg_config_wire_decode(&m, &out, err, sizeof(err)), 0);
	ck_assert_int_eq(out.proxy.fallback, KG_FALLBACK_DIRECT);
	ck_assert_str_eq(out.proxy.client_key, in.proxy.ca_file);
	ck_assert_uint_eq(out.proxy.n_more_urls, KG_PROXY_URLS_MAX - 1);

	/* Out of order, before proxy.url, empty, or malformed: refused; unknown indexes ignored. */
	kg_config_defaults(&out);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[1]", "http://a:1", why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url", "http://a:1", why, sizeof(why)), 0);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[2]", "http://b:1", why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[1]", "", why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[1]", "ftp://b", why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[1]", "http://b:1", why, sizeof(why)),
			 0);
	ck_assert_uint_eq(out.proxy.n_more_urls, 1);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[1]", "http://c:1", why, sizeof(why)),
			 -EINVAL);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[16]", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[02]", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[]", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[2", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[2]x", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url[-1]", "http://c:1", why, sizeof(why)),
			 -ENOENT);
	ck_assert_uint_eq(out.proxy.n_more_urls, 1);
	/* proxy.url starts the list afresh. */
	ck_assert_int_eq(kg_config_wire_set(&out, "proxy.url", "http://d:1", why, sizeof(why)), 0);
	ck_assert_uint_eq(out.proxy.n_more_urls, 0);
	ck_assert_int_eq(decode_one("proxy.fallback", "direct", &out), 0);
	ck_assert_int_eq(out.proxy.fallback, KG_FALLBACK_DIRECT);
	ck_assert_int_eq(decode_one("proxy.fallback", "sometimes", &out), -EINVAL);
	/* The TLS paths are checked as in the file. */
	ck_assert_int_eq(decode_one("proxy.ca_file", "/etc/ca.pem", &out), 0);
	ck_assert_str_eq(out.proxy.ca_file, "/etc/ca.pem");
	ck_assert_int_eq(decode_one("proxy.client_key", "key.pem", &out), -EINVAL);
	ck_assert_int_eq(decode_one("proxy.url[1]", "http://b:1", &out), -EINVAL);
}
END_TEST

static Suite *config_wire_suite(void)
{
	Suite *s = suite_create("config_wire");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_wire_syntax);
	tcase_add_test(tc, test_defaults_and_unknown_keys);
	tcase_add_test(tc, test_bad_values);
	tcase_add_test(tc, test_too_long);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_schema_round_trip);
	tcase_add_test(tc, test_ranges_from_schema);
	tcase_add_test(tc, test_same_reason_as_file);
	tcase_add_test(tc, test_url_list);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(config_wire_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
