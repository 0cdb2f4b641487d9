/* cgroup v2 discovery: a pure-v2 mount is used as is, a hybrid host's /unified is found, and
 * anything else is refused with a distinct error. */
#include <check.h>
#include <errno.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>

#include "service/cgroup.h"

static const char *v2_mount(void)
{
	static const char *const candidates[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};
	struct statfs s;
	size_t i;

	for (i = 0; i < 2; i++)
		if (statfs(candidates[i], &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC)
			return candidates[i];
	return NULL;
}

START_TEST(test_default_path_finds_v2)
{
	const char *want = v2_mount();
	char out[256];

	if (!want)
		return; /* no cgroup2 on this host at all: nothing to find */
	/* The default ebpf.cgroup_path works on pure-v2 and hybrid hosts alike. */
	ck_assert_int_eq(kg_cgroup_resolve("/sys/fs/cgroup", out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);
	/* The v2 mount itself is taken as is. */
	ck_assert_int_eq(kg_cgroup_resolve(want, out, sizeof(out)), 0);
	ck_assert_str_eq(out, want);
}
END_TEST

START_TEST(test_refusals)
{
	char out[256];

	ck_assert_int_eq(kg_cgroup_resolve("/nonexistent/kg", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(kg_cgroup_resolve("/proc", out, sizeof(out)), -EMEDIUMTYPE);
	ck_assert_int_eq(kg_cgroup_resolve("/etc/hostname", out, sizeof(out)), -ENOENT);
	ck_assert_int_eq(kg_cgroup_resolve("/sys/fs/cgroup", out, 4),
			 v2_mount() ? -ENAMETOOLONG : -EMEDIUMTYPE);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cgroup");
	TCase *tc = tcase_create("resolve");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_default_path_finds_v2);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
