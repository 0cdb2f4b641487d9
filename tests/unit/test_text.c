/* Unit tests of src/shared/text.c: what counts as printable, and escaping for a terminal. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "shared/text.h"

START_TEST(test_printable)
{
	ck_assert(kg_text_printable(""));
	ck_assert(kg_text_printable("alice@EXAMPLE.COM"));
	ck_assert(kg_text_printable("j\xc3\xb6rg@EXAMPLE.COM"));       /* ö */
	ck_assert(kg_text_printable("\xe2\x82\xac \xf0\x9f\x94\x91")); /* € and a key */
	ck_assert(!kg_text_printable("a\x1b]0;owned\x07"));
	ck_assert(!kg_text_printable("a\nb"));
	ck_assert(!kg_text_printable("a\tb"));
	ck_assert(!kg_text_printable("a\x7f"));
	ck_assert(!kg_text_printable("\xc2\x9b" "31m")); /* C1 CSI, UTF-8 encoded */
	ck_assert(!kg_text_printable("\x9b" "31m"));     /* C1 CSI, raw byte */
	ck_assert(!kg_text_printable("\xc0\xaf"));       /* overlong */
	ck_assert(!kg_text_printable("\xed\xa0\x80"));   /* surrogate */
	ck_assert(!kg_text_printable("\xf4\x90\x80\x80")); /* beyond U+10FFFF */
	ck_assert(!kg_text_printable("\xe2\x82"));         /* truncated */
}
END_TEST

START_TEST(test_escape)
{
	char out[64];
	const char comm[16] = "ab\x1b]2;x\x07\nroot!!!"; /* no NUL: max bounds it */

	ck_assert_str_eq(kg_text_escape("plain", 100, out, sizeof(out)), "plain");
	ck_assert_str_eq(kg_text_escape("j\xc3\xb6rg", 100, out, sizeof(out)), "j\xc3\xb6rg");
	ck_assert_str_eq(kg_text_escape("a\x1b[31mb\n", 100, out, sizeof(out)), "a\\x1b[31mb\\x0a");
	ck_assert_str_eq(kg_text_escape("back\\slash", 100, out, sizeof(out)), "back\\\\slash");
	ck_assert_str_eq(kg_text_escape("\xc2\x9b\x9b", 100, out, sizeof(out)), "\\xc2\\x9b\\x9b");
	ck_assert_str_eq(kg_text_escape(comm, sizeof(comm), out, sizeof(out)),
			 "ab\\x1b]2;x\\x07\\x0aroot!!!");
	ck_assert_str_eq(kg_text_escape("abc", 2, out, sizeof(out)), "ab");
	/* Cut to fit, never in the middle of an escape, always terminated. */
	ck_assert_str_eq(kg_text_escape("ab\x01", 100, out, 5), "ab");
	ck_assert_str_eq(kg_text_escape("abcdef", 100, out, 4), "abc");
	out[0] = 'x';
	kg_text_escape("abc", 100, out, 0);
	ck_assert_int_eq(out[0], 'x');
}
END_TEST

int main(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("core");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_printable);
	tcase_add_test(tc, test_escape);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
