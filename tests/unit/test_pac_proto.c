/* Unit tests for the PAC evaluator's wire protocol (src/shared/pac_proto.c): every message
 * type round-trips, the encoder refuses what the decoder would refuse, and the decoder
 * refuses malformed bodies: bad types, lengths past their bounds, missing NULs, control
 * characters, bad addresses, duplicate DNS names, short and overlong bodies, and a LOAD of
 * 2 MiB.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/pac_proto.h"

static uint8_t buf[KG_PAC_FRAME_HDR + KG_PAC_BODY_MAX + 64];

/* Encodes m, checks the header, decodes the body into out; the frame's length. */
static size_t round_trip(const struct kg_pac_msg *m, struct kg_pac_msg *out)
{
	ssize_t n = kg_pac_msg_encode(m, buf, sizeof(buf));
	ck_assert_int_gt(n, KG_PAC_FRAME_HDR);
	ck_assert_int_eq(kg_pac_msg_size(m), n);
	size_t blen;
	ck_assert_int_eq(kg_pac_frame_body_len(buf, &blen), 0);
	ck_assert_uint_eq(blen + KG_PAC_FRAME_HDR, (size_t)n);
	ck_assert_int_eq(kg_pac_msg_decode(buf + KG_PAC_FRAME_HDR, blen, out), 0);
	return (size_t)n;
}

static int decode_raw(const void *body, size_t len)
{
	struct kg_pac_msg m;
	return kg_pac_msg_decode(body, len, &m);
}

static void fill_find(struct kg_pac_find *f)
{
	memset(f, 0, sizeof(*f));
	f->url = "https://www.example.com/";
	f->host = "www.example.com";
	ck_assert_int_eq(kg_pac_addr_parse("192.0.2.7", &f->my_ip), 0);
	f->now = 1700000000;
	f->tz_offset = -5 * 3600;
	f->ndns = 2;
	f->dns[0].host = "www.example.com";
	f->dns[0].naddr = 2;
	ck_assert_int_eq(kg_pac_addr_parse("2001:db8::1", &f->dns[0].addr[0]), 0);
	ck_assert_int_eq(kg_pac_addr_parse("198.51.100.1", &f->dns[0].addr[1]), 0);
	f->dns[1].host = "nowhere.example";
	f->dns[1].naddr = 0;
}

START_TEST(text_messages)
{
	static const enum kg_pac_msg_type types[] = {KG_PAC_LOAD, KG_PAC_RESULT, KG_PAC_NEED_DNS,
						     KG_PAC_ALERT, KG_PAC_ERROR};
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct kg_pac_msg m = {.type = types[i],
				       .text = "PROXY a:1; DIRECT",
				       .text_len = 17},
				  d;
		if (types[i] == KG_PAC_ERROR)
			m.err = KG_PAC_ERR_OOM;
		round_trip(&m, &d);
		ck_assert_int_eq(d.type, types[i]);
		ck_assert_uint_eq(d.text_len, 17);
		ck_assert_str_eq(d.text, "PROXY a:1; DIRECT");
		if (types[i] == KG_PAC_ERROR)
			ck_assert_int_eq(d.err, KG_PAC_ERR_OOM);
	}
	struct kg_pac_msg ok = {.type = KG_PAC_OK}, d;
	ck_assert_uint_eq(round_trip(&ok, &d), KG_PAC_FRAME_HDR + 1);
	ck_assert_int_eq(d.type, KG_PAC_OK);
	/* A script may hold newlines and tabs; the others may not. */
	struct kg_pac_msg load = {.type = KG_PAC_LOAD, .text = "a\n\tb", .text_len = 4};
	round_trip(&load, &d);
	ck_assert_str_eq(d.text, "a\n\tb");
	struct kg_pac_msg res = {.type = KG_PAC_RESULT, .text = "a\nb", .text_len = 3};
	ck_assert_int_eq(kg_pac_msg_size(&res), -EINVAL);
	/* UTF-8 is printable. */
	struct kg_pac_msg alert = {
	    .type = KG_PAC_ALERT, .text = "gr\xc3\xbc\xc3\x9f", .text_len = 6};
	round_trip(&alert, &d);
	ck_assert_str_eq(d.text, "gr\xc3\xbc\xc3\x9f");
}
END_TEST

START_TEST(find_message)
{
	static struct kg_pac_msg m, d;
	m.type = KG_PAC_FIND;
	fill_find(&m.find);
	round_trip(&m, &d);
	ck_assert_int_eq(d.type, KG_PAC_FIND);
	ck_assert_str_eq(d.find.url, "https://www.example.com/");
	ck_assert_str_eq(d.find.host, "www.example.com");
	ck_assert_int_eq(d.find.my_ip.family, 4);
	ck_assert_mem_eq(d.find.my_ip.bytes, m.find.my_ip.bytes, 16);
	ck_assert_int_eq(d.find.now, 1700000000);
	ck_assert_int_eq(d.find.tz_offset, -5 * 3600);
	ck_assert_uint_eq(d.find.ndns, 2);
	ck_assert_str_eq(d.find.dns[0].host, "www.example.com");
	ck_assert_uint_eq(d.find.dns[0].naddr, 2);
	ck_assert_int_eq(d.find.dns[0].addr[0].family, 6);
	ck_assert_int_eq(d.find.dns[0].addr[1].family, 4);
	ck_assert_mem_eq(d.find.dns[0].addr[1].bytes, m.find.dns[0].addr[1].bytes, 16);
	ck_assert_str_eq(d.find.dns[1].host, "nowhere.example");
	ck_assert_uint_eq(d.find.dns[1].naddr, 0);

	/* Negative times and no source address. */
	m.find.now = -86400;
	memset(&m.find.my_ip, 0, sizeof(m.find.my_ip));
	round_trip(&m, &d);
	ck_assert_int_eq(d.find.now, -86400);
	ck_assert_int_eq(d.find.my_ip.family, 0);

	/* A full table and the longest fields fit KG_PAC_SMALL_FRAME_MAX. */
	static char url[KG_PAC_URL_MAX + 1], host[KG_PAC_HOST_MAX + 1];
	static char names[KG_PAC_DNS_MAX][KG_PAC_HOST_MAX + 1];
	memset(url, 'u', KG_PAC_URL_MAX);
	memset(host, 'h', KG_PAC_HOST_MAX);
	m.find.url = url;
	m.find.host = host;
	m.find.ndns = KG_PAC_DNS_MAX;
	for (int i = 0; i < KG_PAC_DNS_MAX; i++) {
		memset(names[i], 'n', KG_PAC_HOST_MAX);
		names[i][0] = (char)('0' + i / 10);
		names[i][1] = (char)('0' + i % 10);
		m.find.dns[i].host = names[i];
		m.find.dns[i].naddr = KG_PAC_DNS_ADDRS_MAX;
		for (int j = 0; j < KG_PAC_DNS_ADDRS_MAX; j++)
			ck_assert_int_eq(kg_pac_addr_parse("2001:db8::5", &m.find.dns[i].addr[j]),
					 0);
	}
	ck_assert_int_eq(kg_pac_msg_size(&m), KG_PAC_SMALL_FRAME_MAX);
	round_trip(&m, &d);
	ck_assert_uint_eq(d.find.ndns, KG_PAC_DNS_MAX);
}
END_TEST

START_TEST(encoder_refuses)
{
	static struct kg_pac_msg m;
	static char big[KG_PAC_SCRIPT_MAX + 2];
	uint8_t small[8];

	/* Past each bound. */
	memset(big, 'x', sizeof(big) - 1);
	m = (struct kg_pac_msg){.type = KG_PAC_LOAD, .text = big, .text_len = KG_PAC_SCRIPT_MAX};
	ck_assert_int_gt(kg_pac_msg_size(&m), KG_PAC_SCRIPT_MAX);
	m.text_len = KG_PAC_SCRIPT_MAX + 1;
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){
	    .type = KG_PAC_RESULT, .text = big, .text_len = KG_PAC_RESULT_MAX + 1};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){.type = KG_PAC_ALERT, .text = big, .text_len = KG_PAC_TEXT_MAX + 1};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){.type = KG_PAC_NEED_DNS, .text = "", .text_len = 0};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	/* A NUL inside, a bad kind, an unknown type, a missing text. */
	m = (struct kg_pac_msg){.type = KG_PAC_LOAD, .text = "a\0b", .text_len = 3};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){.type = KG_PAC_ERROR, .text = "x", .text_len = 1, .err = 9};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){.type = 99};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	m = (struct kg_pac_msg){.type = KG_PAC_RESULT};
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	/* Room. */
	m = (struct kg_pac_msg){.type = KG_PAC_RESULT, .text = "DIRECT", .text_len = 6};
	ck_assert_int_eq(kg_pac_msg_encode(&m, small, sizeof(small)), -ENOSPC);

	/* FIND: bounds of the table and its entries. */
	m = (struct kg_pac_msg){.type = KG_PAC_FIND};
	fill_find(&m.find);
	ck_assert_int_gt(kg_pac_msg_size(&m), 0);
	m.find.dns[1].host = "www.example.com"; /* duplicate */
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.dns[1].host = "";
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.dns[0].naddr = KG_PAC_DNS_ADDRS_MAX + 1;
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.dns[0].addr[0].family = 0; /* "none" is no DNS answer */
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.my_ip.bytes[5] = 1; /* IPv4 with junk past its 4 bytes */
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.ndns = KG_PAC_DNS_MAX + 1;
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.tz_offset = KG_PAC_TZ_OFFSET_MAX + 1;
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.host = "bad host\n";
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
	fill_find(&m.find);
	m.find.url = NULL;
	ck_assert_int_eq(kg_pac_msg_size(&m), -EINVAL);
}
END_TEST

START_TEST(frame_header)
{
	size_t n;
	const uint8_t zero[4] = {0, 0, 0, 0}, one[4] = {0, 0, 0, 1}, huge[4] = {0xff, 0, 0, 0};
	uint8_t max[4], over[4];
	uint32_t v = KG_PAC_BODY_MAX;
	for (int i = 0; i < 4; i++) {
		max[i] = (uint8_t)(v >> (24 - 8 * i));
		over[i] = (uint8_t)((v + 1) >> (24 - 8 * i));
	}
	ck_assert_int_eq(kg_pac_frame_body_len(zero, &n), -EBADMSG);
	ck_assert_int_eq(kg_pac_frame_body_len(one, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(kg_pac_frame_body_len(max, &n), 0);
	ck_assert_uint_eq(n, KG_PAC_BODY_MAX);
	ck_assert_int_eq(kg_pac_frame_body_len(over, &n), -EBADMSG);
	ck_assert_int_eq(kg_pac_frame_body_len(huge, &n), -EBADMSG);
}
END_TEST

START_TEST(decoder_refuses)
{
	/* Well-formed, as a baseline for the broken variants below. */
	const uint8_t good[] = {KG_PAC_RESULT, 0, 0, 0, 2, 'o', 'k', 0};
	ck_assert_int_eq(decode_raw(good, sizeof(good)), 0);
	uint8_t b[sizeof(good) + 1];

	ck_assert_int_eq(decode_raw(good, 0), -EBADMSG);
	for (size_t cut = 1; cut < sizeof(good); cut++)
		ck_assert_int_eq(decode_raw(good, cut), -EBADMSG); /* short */
	memcpy(b, good, sizeof(good));
	b[sizeof(good)] = 0;
	ck_assert_int_eq(decode_raw(b, sizeof(good) + 1), -EBADMSG); /* a byte left over */
	memcpy(b, good, sizeof(good));
	b[7] = 'x';
	ck_assert_int_eq(decode_raw(b, sizeof(good)), -EBADMSG); /* no NUL after the string */
	memcpy(b, good, sizeof(good));
	b[6] = 0;
	ck_assert_int_eq(decode_raw(b, sizeof(good)), -EBADMSG); /* a NUL inside */
	memcpy(b, good, sizeof(good));
	b[5] = '\x1b';
	ck_assert_int_eq(decode_raw(b, sizeof(good)), -EBADMSG); /* a control character */
	memcpy(b, good, sizeof(good));
	b[1] = 0x80;
	ck_assert_int_eq(decode_raw(b, sizeof(good)), -EBADMSG); /* length past the body */
	memcpy(b, good, sizeof(good));
	b[4] = 1;
	ck_assert_int_eq(decode_raw(b, sizeof(good)), -EBADMSG); /* length short of the NUL */
	for (int t = 0; t < 256; t++) {
		memcpy(b, good, sizeof(good));
		b[0] = (uint8_t)t;
		int want = (t == KG_PAC_RESULT || t == KG_PAC_NEED_DNS || t == KG_PAC_ALERT ||
			    t == KG_PAC_LOAD)
			       ? 0
			       : -EBADMSG;
		ck_assert_int_eq(decode_raw(b, sizeof(good)), want);
	}
	/* A refused message is left zeroed, whatever the decoder had read. */
	struct kg_pac_msg m, zero;
	memset(&zero, 0, sizeof(zero));
	memcpy(b, good, sizeof(good));
	b[0] = 9;
	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(kg_pac_msg_decode(b, sizeof(good), &m), -EBADMSG);
	ck_assert_mem_eq(&m, &zero, sizeof(m));
	memset(&m, 0xa5, sizeof(m));
	ck_assert_int_eq(kg_pac_msg_decode(good, 0, &m), -EBADMSG);
	ck_assert_mem_eq(&m, &zero, sizeof(m));
	const uint8_t ok_extra[] = {KG_PAC_OK, 0};
	ck_assert_int_eq(decode_raw(ok_extra, 1), 0);
	ck_assert_int_eq(decode_raw(ok_extra, 2), -EBADMSG);
	const uint8_t err_bad_kind[] = {KG_PAC_ERROR, 4, 0, 0, 0, 1, 'x', 0};
	ck_assert_int_eq(decode_raw(err_bad_kind, sizeof(err_bad_kind)), -EBADMSG);
	const uint8_t err_ok[] = {KG_PAC_ERROR, KG_PAC_ERR_SCRIPT, 0, 0, 0, 1, 'x', 0};
	ck_assert_int_eq(decode_raw(err_ok, sizeof(err_ok)), 0);
	const uint8_t need_empty[] = {KG_PAC_NEED_DNS, 0, 0, 0, 0, 0};
	ck_assert_int_eq(decode_raw(need_empty, sizeof(need_empty)), -EBADMSG);
}
END_TEST

/* Encodes a valid FIND, lets mutate break it, and expects the decoder to refuse it. */
static void find_broken(void (*mutate)(uint8_t *body, size_t *len))
{
	static struct kg_pac_msg m;
	m = (struct kg_pac_msg){.type = KG_PAC_FIND};
	fill_find(&m.find);
	ssize_t n = kg_pac_msg_encode(&m, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	size_t len = (size_t)n - KG_PAC_FRAME_HDR;
	ck_assert_int_eq(decode_raw(buf + KG_PAC_FRAME_HDR, len), 0);
	mutate(buf + KG_PAC_FRAME_HDR, &len);
	ck_assert_int_eq(decode_raw(buf + KG_PAC_FRAME_HDR, len), -EBADMSG);
}

/* Offsets in fill_find's FIND body: type 1, url 4+24+1, host 4+15+1, my_ip 17, now 8, tz 4,
 * count 2, then the first entry: host 4+15+1, naddr 1, addresses. */
#define OFF_MYIP  (1 + 29 + 20)
#define OFF_TZ	  (OFF_MYIP + 17 + 8)
#define OFF_COUNT (OFF_TZ + 4)
#define OFF_E0	  (OFF_COUNT + 2)

static void m_family(uint8_t *b, size_t *len)
{
	b[OFF_MYIP] = 5;
}
static void m_junk(uint8_t *b, size_t *len)
{
	b[OFF_MYIP + 1 + 10] = 1;
}
static void m_tz(uint8_t *b, size_t *len)
{
	b[OFF_TZ] = 0x7f;
}
static void m_count(uint8_t *b, size_t *len)
{
	b[OFF_COUNT + 1] = KG_PAC_DNS_MAX + 1;
}
static void m_count_more(uint8_t *b, size_t *len)
{
	b[OFF_COUNT + 1] = 3; /* a third entry that is not there */
}
static void m_naddr(uint8_t *b, size_t *len)
{
	b[OFF_E0 + 20] = KG_PAC_DNS_ADDRS_MAX + 1;
}
static void m_addr_none(uint8_t *b, size_t *len)
{
	memset(b + OFF_E0 + 21, 0, 17); /* family 0 inside the table */
}
static void m_dup(uint8_t *b, size_t *len)
{
	/* The second name becomes the first ("www.example.com" and "nowhere.example" have the
	 * same length). */
	memcpy(b + OFF_E0 + 21 + 2 * 17 + 4, "www.example.com", 15);
}
static void m_host_ctl(uint8_t *b, size_t *len)
{
	b[1 + 29 + 4] = '\t';
}
static void m_trunc(uint8_t *b, size_t *len)
{
	(*len)--;
}

START_TEST(find_refused)
{
	find_broken(m_family);
	find_broken(m_junk);
	find_broken(m_tz);
	find_broken(m_count);
	find_broken(m_count_more);
	find_broken(m_naddr);
	find_broken(m_addr_none);
	find_broken(m_dup);
	find_broken(m_host_ctl);
	find_broken(m_trunc);
}
END_TEST

START_TEST(load_of_two_mib)
{
	/* A LOAD of 2 MiB: its frame header is refused before any body is read, and a body
	 * claiming that length is refused too. */
	size_t len = 2 * 1024 * 1024, n;
	uint8_t *body = malloc(1 + 4 + len + 1);
	ck_assert_ptr_nonnull(body);
	body[0] = KG_PAC_LOAD;
	body[1] = (uint8_t)(len >> 24);
	body[2] = (uint8_t)(len >> 16);
	body[3] = (uint8_t)(len >> 8);
	body[4] = (uint8_t)len;
	memset(body + 5, 'x', len);
	body[5 + len] = 0;
	uint32_t blen = (uint32_t)(1 + 4 + len + 1);
	const uint8_t hdr[4] = {(uint8_t)(blen >> 24), (uint8_t)(blen >> 16), (uint8_t)(blen >> 8),
				(uint8_t)blen};
	ck_assert_int_eq(kg_pac_frame_body_len(hdr, &n), -EBADMSG);
	ck_assert_int_eq(decode_raw(body, blen), -EBADMSG);
	/* The same at exactly 1 MiB passes. */
	len = KG_PAC_SCRIPT_MAX;
	body[1] = (uint8_t)(len >> 24);
	body[2] = (uint8_t)(len >> 16);
	body[3] = (uint8_t)(len >> 8);
	body[4] = (uint8_t)len;
	body[5 + len] = 0;
	ck_assert_int_eq(decode_raw(body, 1 + 4 + len + 1), 0);
	free(body);
}
END_TEST

START_TEST(helpers)
{
	struct kg_pac_addr a;
	char s[64];
	ck_assert_int_eq(kg_pac_addr_parse("10.1.2.3", &a), 0);
	ck_assert_int_eq(a.family, 4);
	ck_assert_int_eq(kg_pac_addr_format(&a, s, sizeof(s)), 8);
	ck_assert_str_eq(s, "10.1.2.3");
	ck_assert_int_eq(kg_pac_addr_parse("2001:DB8::1", &a), 0);
	ck_assert_int_eq(a.family, 6);
	ck_assert_int_gt(kg_pac_addr_format(&a, s, sizeof(s)), 0);
	ck_assert_str_eq(s, "2001:db8::1");
	ck_assert_int_eq(kg_pac_addr_format(&a, s, 4), -ENOSPC);
	ck_assert_int_eq(kg_pac_addr_parse("example.com", &a), -EINVAL);
	ck_assert_int_eq(a.family, 0);
	ck_assert_int_eq(kg_pac_addr_format(&a, s, sizeof(s)), -EINVAL);

	ck_assert_uint_eq(kg_pac_sanitize("a\nb\x7f", 4, s, sizeof(s)), 4);
	ck_assert_str_eq(s, "a?b?");
	ck_assert_uint_eq(kg_pac_sanitize("a\0b", 3, s, sizeof(s)), 3);
	ck_assert_str_eq(s, "a?b");
	ck_assert_uint_eq(kg_pac_sanitize("abcdef", 6, s, 4), 3);
	ck_assert_str_eq(s, "abc");
	/* Cut before a two-byte character rather than inside it. */
	ck_assert_uint_eq(kg_pac_sanitize("ab\xc3\xbc", 4, s, 4), 2);
	ck_assert_str_eq(s, "ab");
	ck_assert_uint_eq(kg_pac_sanitize("ab\xc3\xbc", 4, s, 5), 4);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("pac_proto");
	TCase *tc = tcase_create("proto");
	tcase_add_test(tc, text_messages);
	tcase_add_test(tc, find_message);
	tcase_add_test(tc, encoder_refuses);
	tcase_add_test(tc, frame_header);
	tcase_add_test(tc, decoder_refuses);
	tcase_add_test(tc, find_refused);
	tcase_add_test(tc, load_of_two_mib);
	tcase_add_test(tc, helpers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
