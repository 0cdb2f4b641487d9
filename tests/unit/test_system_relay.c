/* The service's rules for the system relay's registration (src/service/system_relay.c, issue
 * 17): only system.user, never root, only while enabled, only uids of system.uids as the service
 * resolves them, never the relay's own uid. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/system_relay.h"
#include "shared/config.h"

/* "nobody" (65534) stands for system.user: every test system has it. */
#define RELAY 65534u

static struct kg_config cfg;
static char why[256];
static uid_t out[KG_IPC_SYSTEM_UIDS_MAX];
static unsigned n;

static void setup(void)
{
	char err[256];

	kg_config_defaults(&cfg);
	ck_assert_msg(kg_config_parse(&cfg,
				      "system = { enable = true; user = \"nobody\";"
				      " uids = ( \"root\", 105, 106 ); };",
				      "t", NULL, NULL, err, sizeof(err)) == 0,
		      "%s", err);
	why[0] = '\0';
	n = 99;
}

START_TEST(test_all_of_system_uids)
{
	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, NULL, 0, out, &n, why, sizeof(why)), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[1], 105);
	ck_assert_uint_eq(out[2], 106);
}
END_TEST

START_TEST(test_a_list_within_system_uids)
{
	const uint32_t asked[] = {106, 0};

	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, asked, 2, out, &n, why, sizeof(why)), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0], 106);
	ck_assert_uint_eq(out[1], 0);
}
END_TEST

START_TEST(test_a_uid_outside_system_uids)
{
	const uint32_t asked[] = {0, 1000};

	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, asked, 2, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_str_eq(why, "uid 1000 is not in system.uids");
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_not_system_user)
{
	ck_assert_int_eq(kg_system_admit(&cfg, 1000, NULL, 0, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "only system.user (nobody, uid 65534) may register") &&
			  strstr(why, "not uid 1000"),
		      "%s", why);
	ck_assert_int_eq(kg_system_admit(&cfg, 0, NULL, 0, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "never runs as root"), "%s", why);
	/* Not even when the file names root as its user. */
	snprintf(cfg.system.user, sizeof(cfg.system.user), "root");
	ck_assert_int_eq(kg_system_admit(&cfg, 0, NULL, 0, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_disabled_or_unknown_user)
{
	cfg.system.enable = false;
	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, NULL, 0, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "system.enable = false"), "%s", why);
	cfg.system.enable = true;
	snprintf(cfg.system.user, sizeof(cfg.system.user), "no-such-user-kgtest");
	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, NULL, 0, out, &n, why, sizeof(why)), -EPERM);
	ck_assert_msg(strstr(why, "has no passwd entry"), "%s", why);
}
END_TEST

START_TEST(test_never_its_own_uid)
{
	const uint32_t asked[] = {RELAY};
	char err[256];

	ck_assert_int_eq(kg_config_parse(&cfg,
					 "system = { enable = true; user = \"nobody\";"
					 " uids = ( \"nobody\", 0, \"no-such-user-kgtest\" ); };",
					 "t", NULL, NULL, err, sizeof(err)),
			 0);
	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, NULL, 0, out, &n, why, sizeof(why)), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_int_eq(kg_system_admit(&cfg, RELAY, asked, 1, out, &n, why, sizeof(why)),
			 -EINVAL);
	ck_assert_msg(strstr(why, "no uid of system.uids"), "%s", why);
}
END_TEST

START_TEST(test_format)
{
	const uid_t uids[] = {0, 4000000001u};
	char buf[64];

	kg_system_format_uids(uids, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "root, 4000000001");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("system_relay");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_all_of_system_uids);
	tcase_add_test(tc, test_a_list_within_system_uids);
	tcase_add_test(tc, test_a_uid_outside_system_uids);
	tcase_add_test(tc, test_not_system_user);
	tcase_add_test(tc, test_disabled_or_unknown_user);
	tcase_add_test(tc, test_never_its_own_uid);
	tcase_add_test(tc, test_format);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
