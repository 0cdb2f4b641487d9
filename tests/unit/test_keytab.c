/* The system relay's keytab credentials (src/client/auth/keytab.c, issue 17) against the
 * throwaway KDC of kdc_rig.h: the keytab's path, each failure's one sentence (no keytab, a
 * principal not in it, the KDC refusing, the KDC unreachable), tickets in a new MEMORY: cache
 * per acquisition, the renewer's schedule. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <krb5.h>

#include "client/auth/keytab.h"
#include "tests/unit/kdc_rig.h"

#define HOST	  "host/client.kgtest.local"
#define HOST_FULL HOST "@" KDC_RIG_REALM

static char kt1[PATH_MAX + 32], kt2[PATH_MAX + 32];

/* The principal of the cache named name, "" when it has none. */
static void cache_principal(const char *name, char *out, size_t len)
{
	krb5_context k;
	krb5_ccache cc;
	krb5_principal p;
	char *s = NULL;

	out[0] = '\0';
	ck_assert_int_eq(krb5_init_context(&k), 0);
	if (krb5_cc_resolve(k, name, &cc) == 0) {
		if (krb5_cc_get_principal(k, cc, &p) == 0) {
			if (krb5_unparse_name(k, p, &s) == 0)
				snprintf(out, len, "%s", s);
			krb5_free_unparsed_name(k, s);
			krb5_free_principal(k, p);
		}
		krb5_cc_close(k, cc);
	}
	krb5_free_context(k);
}

START_TEST(test_path)
{
	char p[PATH_MAX];

	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(keytab_path("/etc/krb5.keytab", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/etc/krb5.keytab");
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/x.service", 1);
	ck_assert_int_eq(keytab_path("/etc/krb5.keytab", p, sizeof(p)), 0);
	ck_assert_str_eq(p, "/run/credentials/x.service/keytab");
	ck_assert_int_eq(keytab_path("/etc/krb5.keytab", p, 8), -ENAMETOOLONG);
	unsetenv("CREDENTIALS_DIRECTORY");
}
END_TEST

START_TEST(test_schedule)
{
	ck_assert_int_eq(keytab_renew_at(1000, 1000 + 36000), 1000 + 28800);
	ck_assert_int_eq(keytab_renew_at(1000, 1010), 1030); /* never sooner than 30 s */
	ck_assert_int_eq(keytab_renew_at(1000, 0), 1030);
	ck_assert_uint_eq(keytab_backoff_s(1), 10);
	ck_assert_uint_eq(keytab_backoff_s(2), 20);
	ck_assert_uint_eq(keytab_backoff_s(5), 160);
	ck_assert_uint_eq(keytab_backoff_s(6), 300);
	ck_assert_uint_eq(keytab_backoff_s(60), 300);
}
END_TEST

START_TEST(test_check_errors)
{
	char full[256], err[KEYTAB_ERR_MAX], missing[PATH_MAX + 32];

	snprintf(missing, sizeof(missing), "%s/no.keytab", kdc_rig_dir);
	ck_assert_int_eq(keytab_check(missing, HOST, full, sizeof(full), err, sizeof(err)),
			 -ENOENT);
	ck_assert_msg(strstr(err, "cannot read the keytab") && strstr(err, missing), "%s", err);

	ck_assert_int_eq(
	    keytab_check(kt1, "host/other.kgtest.local", full, sizeof(full), err, sizeof(err)),
	    -ESRCH);
	ck_assert_msg(
	    strstr(err, "host/other.kgtest.local@" KDC_RIG_REALM " is not in the keytab") &&
		strstr(err, HOST_FULL),
	    "%s", err);

	ck_assert_int_eq(keytab_check(kt1, HOST, full, sizeof(full), err, sizeof(err)), 0);
	ck_assert_str_eq(full, HOST_FULL);

	if (geteuid() != 0) { /* root reads it anyway */
		chmod(kt1, 0);
		ck_assert_int_eq(keytab_check(kt1, HOST, full, sizeof(full), err, sizeof(err)),
				 -EACCES);
		ck_assert_msg(strstr(err, "LoadCredential"), "%s", err);
		chmod(kt1, 0600);
	}
}
END_TEST

START_TEST(test_acquire)
{
	char a[KEYTAB_CCACHE_MAX], b[KEYTAB_CCACHE_MAX], who[256], err[KEYTAB_ERR_MAX];
	time_t end = 0;

	ck_assert_msg(keytab_acquire(kt1, HOST_FULL, a, sizeof(a), &end, err, sizeof(err)) == 0,
		      "%s", err);
	ck_assert_msg(strncmp(a, "MEMORY:", 7) == 0, "%s", a);
	ck_assert_int_gt(end, time(NULL) + 3600);
	cache_principal(a, who, sizeof(who));
	ck_assert_str_eq(who, HOST_FULL);
	/* Each acquisition is a cache of its own: a renewal never changes one in use. */
	ck_assert_int_eq(keytab_acquire(kt1, HOST_FULL, b, sizeof(b), &end, err, sizeof(err)), 0);
	ck_assert_str_ne(a, b);
	keytab_ccache_destroy(a);
	cache_principal(a, who, sizeof(who));
	ck_assert_str_eq(who, "");
	cache_principal(b, who, sizeof(who));
	ck_assert_str_eq(who, HOST_FULL);
	keytab_ccache_destroy(b);
}
END_TEST

START_TEST(test_renewer)
{
	char err[KEYTAB_ERR_MAX], name[KEYTAB_CCACHE_MAX], who[256];

	ck_assert_str_eq(keytab_ccache(), "");
	ck_assert_msg(keytab_renewer_start(kt1, HOST, err, sizeof(err)) == 0, "%s", err);
	snprintf(name, sizeof(name), "%s", keytab_ccache());
	ck_assert_msg(strncmp(name, "MEMORY:", 7) == 0, "%s", name);
	ck_assert_str_eq(keytab_principal(), HOST_FULL);
	ck_assert_int_gt(keytab_endtime(), time(NULL));
	keytab_renewer_stop();
	ck_assert_str_eq(keytab_ccache(), "");
	cache_principal(name, who, sizeof(who));
	ck_assert_str_eq(who, "");
	/* A principal not in the keytab: refused at start, with the sentence. */
	ck_assert_int_eq(keytab_renewer_start(kt1, "host/x.kgtest.local", err, sizeof(err)),
			 -ESRCH);
	ck_assert_msg(strstr(err, "is not in the keytab"), "%s", err);
}
END_TEST

/* Last: kt2's ktadd made kt1's key old, and then the KDC goes. */
START_TEST(test_kdc_refuses_then_unreachable)
{
	char a[KEYTAB_CCACHE_MAX], err[KEYTAB_ERR_MAX];
	time_t end;

	ck_assert_int_eq(kdc_rig_cmd("ktadd", HOST, kt2, NULL, NULL, NULL), 0);
	ck_assert_int_eq(keytab_acquire(kt2, HOST_FULL, a, sizeof(a), &end, err, sizeof(err)), 0);
	keytab_ccache_destroy(a);
	ck_assert_int_eq(keytab_acquire(kt1, HOST_FULL, a, sizeof(a), &end, err, sizeof(err)),
			 -EACCES);
	ck_assert_msg(strstr(err, "the KDC refused tickets for " HOST_FULL), "%s", err);

	kdc_rig_stop_kdc();
	ck_assert_int_eq(keytab_acquire(kt2, HOST_FULL, a, sizeof(a), &end, err, sizeof(err)),
			 -ECONNREFUSED);
	ck_assert_msg(strstr(err, "cannot reach the KDC for " HOST_FULL), "%s", err);
}
END_TEST

static Suite *keytab_suite(void)
{
	Suite *s = suite_create("keytab");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_path);
	tcase_add_test(tc, test_schedule);
	tcase_add_test(tc, test_check_errors);
	tcase_add_test(tc, test_acquire);
	tcase_add_test(tc, test_renewer);
	tcase_add_test(tc, test_kdc_refuses_then_unreachable);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	static const struct kdc_rig_user users[] = {{NULL}};
	SRunner *sr;
	int failed, r;

	r = kdc_rig_setup("kgkt", users, false);
	if (r != 0) {
		kdc_rig_teardown(r);
		return r;
	}
	snprintf(kt1, sizeof(kt1), "%s/host.keytab", kdc_rig_dir);
	snprintf(kt2, sizeof(kt2), "%s/host2.keytab", kdc_rig_dir);
	if (kdc_rig_cmd("ktadd", HOST, kt1, NULL, NULL, NULL) != 0) {
		fprintf(stderr, "cannot write the host keytab\n");
		kdc_rig_teardown(99);
		return 99;
	}
	sr = srunner_create(keytab_suite());
	/* One process: the KDC's state carries from test to test (the last one stops it). */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	kdc_rig_teardown(0);
	return failed == 0 ? 0 : 1;
}
