/* Unit tests of the client's settings (src/client/settings.c): what the relay makes of the
 * service's KG_MSG_CONFIG, encoded here by the service's own encoder (config_wire.c). The
 * proxy URL is parsed for proxy.type http and must be an http:// URL; none needs none; a type
 * this version cannot do is refused with a sentence; kerberos.ccache's %{...} tokens are
 * expanded for this user; settings are reference-counted; and two settings go the same way out
 * only with the same type, URL and service principal.
 */
#include <check.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/settings.h"
#include "shared/config_wire.h"

static uint8_t payload[KG_IPC_MAX_PAYLOAD];

/* The defaults with the given changes, as the service would send them. */
static int from(enum kg_proxy_type type, const char *url, const char *spn, const char *ccache,
		struct client_settings **ret)
{
	static const uint16_t ports[] = {80, 443};
	struct kg_ipc_msg m = {.hdr = {.type = KG_MSG_CONFIG}, .payload = payload};
	struct kg_config cfg;

	kg_config_defaults(&cfg);
	cfg.proxy.type = type;
	snprintf(cfg.proxy.url, sizeof(cfg.proxy.url), "%s", url);
	snprintf(cfg.kerberos.spn, sizeof(cfg.kerberos.spn), "%s", spn);
	snprintf(cfg.kerberos.ccache, sizeof(cfg.kerberos.ccache), "%s", ccache);
	ck_assert_int_eq(kg_config_wire_encode(&cfg, ports, 2, payload, sizeof(payload), &m.len),
			 0);
	*ret = NULL;
	return client_settings_from_msg(&m, ret);
}

START_TEST(http_proxy)
{
	struct client_settings *set;

	ck_assert_int_eq(from(KG_PROXY_HTTP, "http://proxy.example.com:3128", "", "", &set), 0);
	ck_assert_str_eq(set->proxy.host, "proxy.example.com");
	ck_assert_uint_eq(set->proxy.port, 3128);
	ck_assert_str_eq(set->cfg.proxy.url, "http://proxy.example.com:3128");
	ck_assert_uint_eq(set->cfg.proxy.connection_timeout, 10);
	ck_assert_uint_eq(set->proxy_addrlen, 0); /* resolved at first use, not here */
	ck_assert_str_eq(set->ccache, "");
	ck_assert_uint_eq(set->refs, 1);
	ck_assert_ptr_eq(client_settings_ref(set), set);
	ck_assert_uint_eq(set->refs, 2);
	client_settings_unref(set);
	ck_assert_uint_eq(set->refs, 1);
	client_settings_unref(set);
	client_settings_unref(NULL);
}
END_TEST

/* proxy.type https: the URL's port defaults to 443 (as curl and browsers); its route is one
 * HTTPS entry; the TLS keys come from the service only when set. */
START_TEST(https_proxy)
{
	struct client_settings *set;
	struct kg_url u;
	char err[256];

	ck_assert_int_eq(from(KG_PROXY_HTTPS, "https://proxy.example.com", "", "", &set), 0);
	ck_assert_str_eq(set->proxy.scheme, "https");
	ck_assert_str_eq(set->proxy.host, "proxy.example.com");
	ck_assert_uint_eq(set->proxy.port, 443);
	ck_assert_uint_eq(set->route.n, 1);
	ck_assert_int_eq(set->route.e[0].kind, KG_ROUTE_HTTPS);
	ck_assert_str_eq(set->route.e[0].host, "proxy.example.com");
	ck_assert_uint_eq(set->route.e[0].port, 443);
	ck_assert_str_eq(set->cfg.proxy.ca_file, "");
	client_settings_unref(set);
	ck_assert_int_eq(
	    client_settings_check(KG_PROXY_HTTPS, "https://[::1]:3129", &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(u.port, 3129);
}
END_TEST

START_TEST(none_needs_no_url)
{
	struct client_settings *set;

	ck_assert_int_eq(from(KG_PROXY_NONE, "", "", "", &set), 0);
	ck_assert_int_eq(set->cfg.proxy.type, KG_PROXY_NONE);
	client_settings_unref(set);
}
END_TEST

START_TEST(refused)
{
	struct client_settings *set;
	char err[256];

	/* http without a URL, or with one that is no http:// URL */
	ck_assert_int_eq(from(KG_PROXY_HTTP, "", "", "", &set), -EINVAL);
	ck_assert_ptr_null(set);
	ck_assert_int_eq(client_settings_check(KG_PROXY_HTTP, "https://p.example.com:443", NULL,
					       err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "proxy.url \"https://p.example.com:443\" is not an http:// URL "
			      "(needed for proxy.type http)");
	/* https without a URL, or with one that is no https:// URL */
	ck_assert_int_eq(from(KG_PROXY_HTTPS, "", "", "", &set), -EINVAL);
	ck_assert_ptr_null(set);
	ck_assert_int_eq(client_settings_check(KG_PROXY_HTTPS, "http://p.example.com:3128", NULL,
					       err, sizeof(err)),
			 -EINVAL);
	ck_assert_str_eq(err, "proxy.url \"http://p.example.com:3128\" is not an https:// URL "
			      "(needed for proxy.type https)");
	/* a type this version cannot do */
	ck_assert_int_eq(client_settings_check((enum kg_proxy_type)99, "", NULL, err, sizeof(err)),
			 -EOPNOTSUPP);
	ck_assert_str_eq(err,
			 "proxy.type unknown is not supported yet; use http, https, wpad or none");
	/* wpad needs no URL: the PAC names the proxies; the settings' own route is DIRECT (what
	 * connections do when no PAC is in use) */
	ck_assert_int_eq(from(KG_PROXY_WPAD, "", "", "", &set), 0);
	ck_assert_ptr_nonnull(set);
	ck_assert_uint_eq(set->route.n, 1);
	ck_assert_int_eq(set->route.e[0].kind, KG_ROUTE_DIRECT);
	client_settings_unref(set);
	set = NULL;
}
END_TEST

START_TEST(ccache_tokens)
{
	struct client_settings *set;
	struct passwd *pw = getpwuid(geteuid());
	char want[256];

	unsetenv("TMPDIR");
	ck_assert_int_eq(
	    from(KG_PROXY_HTTP, "http://p:3128", "", "FILE:%{TEMP}/krb5cc_%{uid}", &set), 0);
	snprintf(want, sizeof(want), "FILE:/tmp/krb5cc_%u", (unsigned)getuid());
	ck_assert_str_eq(set->ccache, want);
	ck_assert_str_eq(set->cfg.kerberos.ccache, "FILE:%{TEMP}/krb5cc_%{uid}"); /* as sent */
	client_settings_unref(set);
	if (pw) {
		ck_assert_int_eq(from(KG_PROXY_HTTP, "http://p:3128", "", "KCM:%{username}", &set),
				 0);
		snprintf(want, sizeof(want), "KCM:%s", pw->pw_name);
		ck_assert_str_eq(set->ccache, want);
		client_settings_unref(set);
	}
}
END_TEST

START_TEST(same_upstream)
{
	struct client_settings *a, *b, *c, *d;

	ck_assert_int_eq(from(KG_PROXY_HTTP, "http://p:3128", "HTTP@p", "", &a), 0);
	/* a different timeout or cache does not change the way out */
	ck_assert_int_eq(from(KG_PROXY_HTTP, "http://p:3128", "HTTP@p", "FILE:/tmp/x", &b), 0);
	ck_assert_int_eq(from(KG_PROXY_HTTP, "http://p:3128", "HTTP@q", "", &c), 0);
	ck_assert_int_eq(from(KG_PROXY_NONE, "http://p:3128", "HTTP@p", "", &d), 0);
	ck_assert(client_settings_same_upstream(a, b));
	ck_assert(!client_settings_same_upstream(a, c)); /* another principal */
	ck_assert(!client_settings_same_upstream(a, d)); /* direct */
	client_settings_unref(a);
	client_settings_unref(b);
	client_settings_unref(c);
	client_settings_unref(d);
}
END_TEST

/* A configuration of a proxy.url list and fallback, as the service sends it. */
static int from_cfg(const struct kg_config *cfg, struct client_settings **ret)
{
	static const uint16_t ports[] = {80, 443};
	struct kg_ipc_msg m = {.hdr = {.type = KG_MSG_CONFIG}, .payload = payload};

	ck_assert_int_eq(kg_config_wire_encode(cfg, ports, 2, payload, sizeof(payload), &m.len), 0);
	*ret = NULL;
	return client_settings_from_msg(&m, ret);
}

/* The TLS files are read by the client, as its user, with the settings: one it cannot read
 * refuses them; a key without a certificate too; the paths tell ways out apart. */
START_TEST(tls_files)
{
	struct client_settings *a, *b;
	struct proxy_tls_ctx *ctx;
	struct kg_config cfg;
	char err[256];

	kg_config_defaults(&cfg);
	cfg.proxy.type = KG_PROXY_HTTPS;
	strcpy(cfg.proxy.url, "https://proxy.example.com:3129");
	ck_assert_int_eq(from_cfg(&cfg, &a), 0);
	ck_assert_ptr_nonnull(a->tls); /* an https route: made with the settings */
	ck_assert_int_eq(client_settings_tls(a, &ctx, err, sizeof(err)), 0);
	ck_assert_ptr_eq(ctx, a->tls);
	strcpy(cfg.proxy.ca_file, "/nonexistent/kg-ca.pem");
	ck_assert_int_eq(from_cfg(&cfg, &b), -EINVAL); /* a configuration error */
	ck_assert_ptr_null(b);
	cfg.proxy.ca_file[0] = '\0';
	strcpy(cfg.proxy.client_key, "/nonexistent/kg-client.key");
	ck_assert_int_eq(from_cfg(&cfg, &b), -EINVAL);
	cfg.proxy.client_key[0] = '\0';
	/* http: no TLS until a PAC says HTTPS (then made at first use) */
	cfg.proxy.type = KG_PROXY_HTTP;
	strcpy(cfg.proxy.url, "http://proxy.example.com:3128");
	ck_assert_int_eq(from_cfg(&cfg, &b), 0);
	ck_assert_ptr_null(b->tls);
	ck_assert_int_eq(client_settings_tls(b, &ctx, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(b->tls);
	client_settings_unref(b);
	cfg.proxy.type = KG_PROXY_HTTPS;
	strcpy(cfg.proxy.url, "https://proxy.example.com:3129");
	strcpy(cfg.proxy.client_cert, "/etc/hostname"); /* readable, not a certificate */
	ck_assert_int_eq(from_cfg(&cfg, &b), -EINVAL);
	cfg.proxy.client_cert[0] = '\0';
	/* the same URL with another CA file is another way out */
	ck_assert_int_eq(from_cfg(&cfg, &b), 0);
	ck_assert(client_settings_same_upstream(a, b));
	strcpy(b->cfg.proxy.ca_file, "/etc/kg/other-ca.pem");
	ck_assert(!client_settings_same_upstream(a, b));
	client_settings_unref(a);
	client_settings_unref(b);
}
END_TEST

/* The route: the list in order (paths dropped, hosts as the route parser writes them), DIRECT
 * after it with fallback "direct", a lone DIRECT for none; routes tell ways out apart. */
START_TEST(route_from_list)
{
	struct client_settings *a, *b, *c, *d;
	struct kg_config cfg;
	char text[256];

	kg_config_defaults(&cfg);
	strcpy(cfg.proxy.url, "http://P1.example.com:3128/ignored");
	strcpy(cfg.proxy.more_urls[0], "http://[2001:DB8::1]:8080");
	strcpy(cfg.proxy.more_urls[1], "https://p3.example.com");
	cfg.proxy.n_more_urls = 2;
	ck_assert_int_eq(from_cfg(&cfg, &a), 0);
	ck_assert_uint_eq(a->route.n, 3);
	ck_assert_int_gt(kg_route_format(&a->route, text, sizeof(text)), 0);
	ck_assert_str_eq(
	    text, "PROXY p1.example.com:3128; PROXY [2001:db8::1]:8080; HTTPS p3.example.com:443");
	ck_assert_str_eq(a->proxy.host, "P1.example.com"); /* the first, as before */

	cfg.proxy.fallback = KG_FALLBACK_DIRECT;
	ck_assert_int_eq(from_cfg(&cfg, &b), 0);
	ck_assert_uint_eq(b->route.n, 4);
	ck_assert_int_eq(b->route.e[3].kind, KG_ROUTE_DIRECT);
	ck_assert(!client_settings_same_upstream(a, b)); /* the fallback changes the way out */

	cfg.proxy.n_more_urls = 1;
	ck_assert_int_eq(from_cfg(&cfg, &c), 0);
	ck_assert(!client_settings_same_upstream(b, c)); /* a shorter list too */
	ck_assert_uint_eq(c->route.n, 3);

	cfg.proxy.type = KG_PROXY_NONE;
	ck_assert_int_eq(from_cfg(&cfg, &d), 0);
	ck_assert_uint_eq(d->route.n, 1);
	ck_assert_int_eq(d->route.e[0].kind, KG_ROUTE_DIRECT);
	client_settings_unref(a);
	client_settings_unref(b);
	client_settings_unref(c);
	client_settings_unref(d);

	/* 16 proxies and fallback direct: no room for DIRECT, said in the journal. */
	cfg.proxy.type = KG_PROXY_HTTP;
	for (cfg.proxy.n_more_urls = 0; cfg.proxy.n_more_urls < KG_PROXY_URLS_MAX - 1;
	     cfg.proxy.n_more_urls++)
		snprintf(cfg.proxy.more_urls[cfg.proxy.n_more_urls], KG_URL_MAX, "http://p%u:1",
			 cfg.proxy.n_more_urls);
	ck_assert_int_eq(from_cfg(&cfg, &a), 0);
	ck_assert_uint_eq(a->route.n, KG_ROUTE_MAX);
	ck_assert_int_eq(a->route.e[KG_ROUTE_MAX - 1].kind, KG_ROUTE_PROXY);
	client_settings_unref(a);
}
END_TEST

/* client_settings_route() from a struct, as the integrator's callers will use it. */
START_TEST(route_direct)
{
	struct kg_config cfg;
	struct kg_route r;
	char err[256];

	kg_config_defaults(&cfg);
	ck_assert_int_eq(client_settings_route(&cfg, &r, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "proxy.url is empty");
	strcpy(cfg.proxy.url, "http://p:3128");
	ck_assert_int_eq(client_settings_route(&cfg, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.e[0].host, "p");
	ck_assert_uint_eq(r.e[0].port, 3128);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("settings");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, http_proxy);
	tcase_add_test(tc, https_proxy);
	tcase_add_test(tc, tls_files);
	tcase_add_test(tc, none_needs_no_url);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, ccache_tokens);
	tcase_add_test(tc, same_upstream);
	tcase_add_test(tc, route_from_list);
	tcase_add_test(tc, route_direct);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
