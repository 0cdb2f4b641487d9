/* Unit tests for the SNI and Host sniffers (src/client/sniff.c).
 *
 * The hellos below were captured on 127.0.0.1 from OpenSSL 3.0 s_client (TLS 1.3 default,
 * -tls1_2, -noservername) and curl 7.88 at test-writing time; the others are built here, split
 * across records in every way the relay can meet them. The invariant checked everywhere: a
 * prefix of a valid first flight answers -EAGAIN, never a name and never an error.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/proto/sniff.h"

/* openssl s_client -connect 127.0.0.1:P -servername www.Example.COM */
static const uint8_t hello_openssl_tls13[] = {
    0x16, 0x03, 0x01, 0x01, 0x3c, 0x01, 0x00, 0x01, 0x38, 0x03, 0x03, 0x7e, 0x7d, 0xd6, 0xd0, 0xce,
    0xfd, 0x29, 0x9a, 0x9e, 0x0d, 0x04, 0xda, 0x06, 0x9b, 0x8b, 0xbb, 0xe6, 0x92, 0xb9, 0xc7, 0x79,
    0xf2, 0xd9, 0x0e, 0x4b, 0xc0, 0xe5, 0x33, 0xfc, 0x5a, 0x36, 0xc9, 0x20, 0xec, 0x54, 0xeb, 0xc9,
    0x58, 0x05, 0xb1, 0x42, 0xc3, 0x4f, 0x3a, 0xb1, 0x8a, 0xaf, 0x70, 0xbc, 0xde, 0x47, 0x48, 0xb1,
    0xbd, 0xf9, 0xf8, 0xe2, 0x1d, 0x1b, 0x3b, 0x7b, 0xbc, 0xb4, 0x1a, 0x29, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0xb1,
    0x00, 0x00, 0x00, 0x14, 0x00, 0x12, 0x00, 0x00, 0x0f, 0x77, 0x77, 0x77, 0x2e, 0x45, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x43, 0x4f, 0x4d, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02,
    0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18,
    0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16,
    0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03,
    0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05,
    0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02,
    0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03,
    0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00,
    0x20, 0x07, 0xc2, 0xeb, 0x5a, 0xe8, 0x40, 0x8a, 0x0a, 0xda, 0x76, 0x1b, 0x1c, 0xaf, 0x85, 0xe7,
    0x72, 0xfc, 0x3a, 0xd6, 0x87, 0x48, 0x3d, 0x15, 0xfd, 0x2d, 0xcc, 0xf2, 0x31, 0x83, 0xa6, 0xe2,
    0x1f,
};

/* openssl s_client -servername tls12.example.org -tls1_2 */
static const uint8_t hello_openssl_tls12[] = {
    0x16, 0x03, 0x01, 0x00, 0xd1, 0x01, 0x00, 0x00, 0xcd, 0x03, 0x03, 0xb9, 0x36, 0x2b, 0xd7, 0xd9,
    0x53, 0x1c, 0xec, 0x79, 0xb2, 0x64, 0xb5, 0x1c, 0x94, 0x5e, 0x10, 0x23, 0xdb, 0xf1, 0xf1, 0x65,
    0xb4, 0x31, 0x92, 0x24, 0x01, 0x97, 0x88, 0x41, 0xdf, 0x36, 0x09, 0x00, 0x00, 0x38, 0xc0, 0x2c,
    0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa, 0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e,
    0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27, 0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14,
    0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d, 0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c,
    0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x6c, 0x00, 0x00, 0x00, 0x16, 0x00, 0x14,
    0x00, 0x00, 0x11, 0x74, 0x6c, 0x73, 0x31, 0x32, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x2e, 0x6f, 0x72, 0x67, 0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x0c,
    0x00, 0x0a, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x00, 0x23, 0x00, 0x00,
    0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a, 0x00, 0x28, 0x04, 0x03,
    0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04,
    0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03, 0x03, 0x01, 0x03, 0x02,
    0x04, 0x02, 0x05, 0x02, 0x06, 0x02,
};

/* openssl s_client -noservername */
static const uint8_t hello_openssl_nosni[] = {
    0x16, 0x03, 0x01, 0x01, 0x24, 0x01, 0x00, 0x01, 0x20, 0x03, 0x03, 0x89, 0xf3, 0x5d, 0xbc, 0xf3,
    0x9e, 0x58, 0xf4, 0x24, 0xd1, 0x43, 0x35, 0xc5, 0x9a, 0x1c, 0x75, 0x0a, 0x2e, 0xee, 0xb1, 0x76,
    0xa9, 0x40, 0x81, 0xc1, 0xef, 0x09, 0xab, 0x36, 0x80, 0xed, 0x7a, 0x20, 0xe4, 0xc8, 0x0d, 0x22,
    0xd6, 0x7e, 0xee, 0x90, 0xf5, 0x32, 0x26, 0xe1, 0xf5, 0xd7, 0x8e, 0x70, 0x29, 0x49, 0x09, 0x19,
    0x74, 0x3d, 0x2a, 0xb7, 0x23, 0xe2, 0xbe, 0x04, 0x2e, 0x2d, 0xd8, 0x83, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x00, 0x99,
    0x00, 0x0b, 0x00, 0x04, 0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d,
    0x00, 0x17, 0x00, 0x1e, 0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03,
    0x01, 0x04, 0x00, 0x23, 0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x0d,
    0x00, 0x2a, 0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09,
    0x08, 0x0a, 0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01,
    0x03, 0x03, 0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09,
    0x08, 0x03, 0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00,
    0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0xf0, 0xa2, 0x14, 0x4e, 0xaf, 0x23, 0x71,
    0xc7, 0x47, 0x5e, 0xb2, 0x3e, 0x19, 0x6e, 0x59, 0x6a, 0x29, 0x92, 0x37, 0x64, 0xe2, 0x17, 0x8f,
    0x8c, 0xa6, 0x38, 0x6c, 0x26, 0x12, 0x3b, 0x4a, 0x20,
};

/* curl -k --resolve kg-test.example.net:P:127.0.0.1 https://kg-test.example.net:P/ */
static const uint8_t hello_curl[] = {
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x75, 0x09, 0xac, 0xca, 0xa0,
    0x23, 0x3e, 0x49, 0x39, 0x99, 0x6f, 0x4e, 0xb3, 0x86, 0xef, 0x2b, 0x75, 0xc4, 0x7c, 0x44, 0x87,
    0x9b, 0x6c, 0xb6, 0x15, 0xff, 0x6d, 0xf1, 0xb9, 0x44, 0x55, 0x20, 0x20, 0x82, 0x22, 0xba, 0xcd,
    0xd8, 0x1b, 0x3c, 0x4e, 0x37, 0xde, 0xda, 0x45, 0x86, 0x74, 0xb3, 0xd2, 0xf2, 0x5c, 0xe1, 0xfe,
    0x5c, 0x5c, 0xda, 0x1c, 0x8b, 0x18, 0x4a, 0xc6, 0x04, 0x70, 0x65, 0x6e, 0x00, 0x3e, 0x13, 0x02,
    0x13, 0x03, 0x13, 0x01, 0xc0, 0x2c, 0xc0, 0x30, 0x00, 0x9f, 0xcc, 0xa9, 0xcc, 0xa8, 0xcc, 0xaa,
    0xc0, 0x2b, 0xc0, 0x2f, 0x00, 0x9e, 0xc0, 0x24, 0xc0, 0x28, 0x00, 0x6b, 0xc0, 0x23, 0xc0, 0x27,
    0x00, 0x67, 0xc0, 0x0a, 0xc0, 0x14, 0x00, 0x39, 0xc0, 0x09, 0xc0, 0x13, 0x00, 0x33, 0x00, 0x9d,
    0x00, 0x9c, 0x00, 0x3d, 0x00, 0x3c, 0x00, 0x35, 0x00, 0x2f, 0x00, 0xff, 0x01, 0x00, 0x01, 0x75,
    0x00, 0x00, 0x00, 0x18, 0x00, 0x16, 0x00, 0x00, 0x13, 0x6b, 0x67, 0x2d, 0x74, 0x65, 0x73, 0x74,
    0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x6e, 0x65, 0x74, 0x00, 0x0b, 0x00, 0x04,
    0x03, 0x00, 0x01, 0x02, 0x00, 0x0a, 0x00, 0x16, 0x00, 0x14, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x1e,
    0x00, 0x19, 0x00, 0x18, 0x01, 0x00, 0x01, 0x01, 0x01, 0x02, 0x01, 0x03, 0x01, 0x04, 0x00, 0x10,
    0x00, 0x0e, 0x00, 0x0c, 0x02, 0x68, 0x32, 0x08, 0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31,
    0x00, 0x16, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x31, 0x00, 0x00, 0x00, 0x0d, 0x00, 0x2a,
    0x00, 0x28, 0x04, 0x03, 0x05, 0x03, 0x06, 0x03, 0x08, 0x07, 0x08, 0x08, 0x08, 0x09, 0x08, 0x0a,
    0x08, 0x0b, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x04, 0x01, 0x05, 0x01, 0x06, 0x01, 0x03, 0x03,
    0x03, 0x01, 0x03, 0x02, 0x04, 0x02, 0x05, 0x02, 0x06, 0x02, 0x00, 0x2b, 0x00, 0x09, 0x08, 0x03,
    0x04, 0x03, 0x03, 0x03, 0x02, 0x03, 0x01, 0x00, 0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x33, 0x00,
    0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20, 0x78, 0x66, 0x5a, 0xfa, 0xbd, 0x22, 0x88, 0x41, 0x85,
    0x75, 0x0f, 0x9e, 0x93, 0x77, 0x42, 0x34, 0xa0, 0x87, 0x44, 0x45, 0xd8, 0x82, 0x48, 0x27, 0x53,
    0xe3, 0x3f, 0xcc, 0xec, 0x63, 0xb2, 0x6c, 0x00, 0x15, 0x00, 0xaa, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00,
};

struct capture {
	const uint8_t *bytes;
	size_t len;
	const char *sni; /* NULL: no SNI */
};

static const struct capture captures[] = {
    {hello_openssl_tls13, sizeof(hello_openssl_tls13), "www.example.com"},
    {hello_openssl_tls12, sizeof(hello_openssl_tls12), "tls12.example.org"},
    {hello_openssl_nosni, sizeof(hello_openssl_nosni), NULL},
    {hello_curl, sizeof(hello_curl), "kg-test.example.net"},
};

/* A growable-free byte builder with a fixed cap, for hand-made hellos. */
struct bytes {
	uint8_t b[3 * KG_SNIFF_MAX];
	size_t n;
};

static void put(struct bytes *x, const void *p, size_t n)
{
	ck_assert_uint_le(x->n + n, sizeof(x->b));
	memcpy(x->b + x->n, p, n);
	x->n += n;
}

static void put8(struct bytes *x, unsigned v)
{
	uint8_t b = (uint8_t)v;
	put(x, &b, 1);
}

static void put16(struct bytes *x, unsigned v)
{
	put8(x, v >> 8);
	put8(x, v);
}

static void put24(struct bytes *x, unsigned v)
{
	put8(x, v >> 16);
	put16(x, v);
}

static void add_ext(struct bytes *exts, unsigned type, const void *data, size_t len)
{
	put16(exts, type);
	put16(exts, (unsigned)len);
	put(exts, data, len);
}

/* server_name extension with one entry of the given type. */
static void add_sni_typed(struct bytes *exts, unsigned name_type, const char *name)
{
	size_t n = strlen(name);
	put16(exts, 0);
	put16(exts, (unsigned)(n + 5));
	put16(exts, (unsigned)(n + 3));
	put8(exts, name_type);
	put16(exts, (unsigned)n);
	put(exts, name, n);
}

static void add_sni(struct bytes *exts, const char *name)
{
	add_sni_typed(exts, 0, name);
}

/* A ClientHello handshake message (header included); exts NULL: no extensions block. */
static void make_handshake(struct bytes *hs, const struct bytes *exts)
{
	static const uint8_t random[32];
	struct bytes *body = calloc(1, sizeof(*body));

	put16(body, 0x0303);
	put(body, random, sizeof(random));
	put8(body, 0);	/* session id */
	put16(body, 2); /* cipher suites */
	put16(body, 0x1301);
	put8(body, 1); /* compression methods */
	put8(body, 0);
	if (exts) {
		put16(body, (unsigned)exts->n);
		put(body, exts->b, exts->n);
	}
	hs->n = 0;
	put8(hs, 1);
	put24(hs, (unsigned)body->n);
	put(hs, body->b, body->n);
	free(body);
}

/* Wraps handshake bytes into records carrying at most frag bytes each. */
static void make_records(struct bytes *out, const uint8_t *hs, size_t len, size_t frag)
{
	out->n = 0;
	for (size_t off = 0; off < len; off += frag) {
		size_t n = len - off < frag ? len - off : frag;
		put8(out, 0x16);
		put16(out, 0x0301);
		put16(out, (unsigned)n);
		put(out, hs + off, n);
	}
}

static struct bytes *hello_with(const struct bytes *exts, size_t frag)
{
	struct bytes *hs = calloc(1, sizeof(*hs));
	struct bytes *rec = calloc(1, sizeof(*rec));

	make_handshake(hs, exts);
	make_records(rec, hs->b, hs->n, frag);
	free(hs);
	return rec;
}

static struct bytes *hello_sni(const char *name, size_t frag)
{
	struct bytes exts = {.n = 0};

	add_sni(&exts, name);
	return hello_with(&exts, frag);
}

static int sni(const uint8_t *buf, size_t len, char host[KG_HOST_MAX])
{
	memset(host, 'X', KG_HOST_MAX);
	return kg_sniff_tls_sni(buf, len, host, KG_HOST_MAX);
}

/* Every strict prefix of a complete first flight must answer -EAGAIN. */
static void assert_prefixes_wait(const uint8_t *buf, size_t len)
{
	char host[KG_HOST_MAX];

	for (size_t k = 0; k < len; k++)
		ck_assert_msg(sni(buf, k, host) == -EAGAIN, "prefix %zu of %zu", k, len);
}

START_TEST(tls_captured_hellos)
{
	char host[KG_HOST_MAX];

	for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
		const struct capture *c = &captures[i];
		int r = sni(c->bytes, c->len, host);
		if (c->sni) {
			ck_assert_int_eq(r, 1);
			ck_assert_str_eq(host, c->sni);
		} else {
			ck_assert_int_eq(r, 0);
		}
		assert_prefixes_wait(c->bytes, c->len);
	}
}
END_TEST

/* The captured hellos re-cut into records of every small size and some large ones, as an
 * anti-censorship tool or a large post-quantum hello would send them. */
START_TEST(tls_captured_refragmented)
{
	struct bytes *rec = calloc(1, sizeof(*rec));
	char host[KG_HOST_MAX];

	for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
		const struct capture *c = &captures[i];
		/* Each capture is one record holding the whole handshake message. */
		ck_assert_uint_eq((size_t)c->bytes[3] << 8 | c->bytes[4], c->len - 5);
		for (size_t frag = 1; frag <= c->len; frag += frag < 8 ? 1 : 37) {
			make_records(rec, c->bytes + 5, c->len - 5, frag);
			int r = sni(rec->b, rec->n, host);
			ck_assert_int_eq(r, c->sni ? 1 : 0);
			if (c->sni)
				ck_assert_str_eq(host, c->sni);
			if (frag == 1 || frag == 4 || frag == 5 || frag == 229)
				assert_prefixes_wait(rec->b, rec->n);
		}
	}
	free(rec);
}
END_TEST

/* A 9 KB hello (padding extension) in records of 1000 bytes, and the name after the padding. */
START_TEST(tls_large_hello_split)
{
	static uint8_t pad[9000];
	struct bytes exts = {.n = 0};
	char host[KG_HOST_MAX];

	add_ext(&exts, 21, pad, sizeof(pad));
	add_sni(&exts, "late.example.com");
	struct bytes *rec = hello_with(&exts, 1000);
	ck_assert_uint_gt(rec->n, 9000);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 1);
	ck_assert_str_eq(host, "late.example.com");
	assert_prefixes_wait(rec->b, rec->n);
	/* The TCP stream may carry more after the hello (early data): ignored. */
	rec->b[rec->n++] = 0x17;
	ck_assert_int_eq(sni(rec->b, rec->n, host), 1);
	free(rec);
}
END_TEST

/* A handshake message that cannot fit in KG_SNIFF_MAX is given up at once (0), and input
 * beyond the cap is never looked at. */
START_TEST(tls_beyond_cap)
{
	static uint8_t pad[KG_SNIFF_MAX];
	struct bytes exts = {.n = 0};
	char host[KG_HOST_MAX];

	add_ext(&exts, 21, pad, sizeof(pad) - 30);
	add_sni(&exts, "never.example.com");
	struct bytes *rec = hello_with(&exts, 16384);
	ck_assert_int_eq(sni(rec->b, 9, host), 0);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 0);
	free(rec);

	/* Just under the cap in tiny records: the record headers push it past the cap. */
	exts.n = 0;
	add_ext(&exts, 21, pad, 15000);
	add_sni(&exts, "tiny.example.com");
	rec = hello_with(&exts, 20);
	ck_assert_uint_gt(rec->n, KG_SNIFF_MAX);
	ck_assert_int_eq(sni(rec->b, KG_SNIFF_MAX - 1, host), -EAGAIN);
	ck_assert_int_eq(sni(rec->b, KG_SNIFF_MAX, host), 0);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 0);
	free(rec);
}
END_TEST

START_TEST(tls_not_tls)
{
	static const uint8_t get[] = "GET / HTTP/1.1\r\n";
	static const uint8_t ssh[] = "SSH-2.0-OpenSSH_9.2\r\n";
	static const uint8_t sslv3_other[] = {0x16, 0x02, 0x00};
	static const uint8_t sslv2[] = {0x80, 0x2e, 0x01, 0x00, 0x02};
	char host[KG_HOST_MAX];

	ck_assert_int_eq(sni(get, sizeof(get) - 1, host), 0);
	ck_assert_int_eq(sni(ssh, sizeof(ssh) - 1, host), 0);
	ck_assert_int_eq(sni(sslv3_other, sizeof(sslv3_other), host), 0);
	ck_assert_int_eq(sni(sslv2, sizeof(sslv2), host), 0);
	ck_assert_int_eq(sni(get, 0, host), -EAGAIN);
	ck_assert_int_eq(sni(hello_curl, 1, host), -EAGAIN);
	ck_assert_uint_eq((uint8_t)host[0], 'X'); /* untouched unless 1 */
}
END_TEST

START_TEST(tls_no_sni)
{
	struct bytes exts = {.n = 0};
	char host[KG_HOST_MAX];
	struct bytes *rec;

	rec = hello_with(NULL, 16384); /* TLS 1.0-style hello without extensions */
	ck_assert_int_eq(sni(rec->b, rec->n, host), 0);
	free(rec);
	rec = hello_with(&exts, 16384); /* empty extensions block */
	ck_assert_int_eq(sni(rec->b, rec->n, host), 0);
	free(rec);
	add_sni_typed(&exts, 7, "other-type.example.com"); /* unknown name type: skipped */
	rec = hello_with(&exts, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 0);
	free(rec);
}
END_TEST

START_TEST(tls_name_normalised)
{
	char host[KG_HOST_MAX];
	char longest[254];
	struct bytes *rec;

	rec = hello_sni("MiXeD.Example.COM.", 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 1);
	ck_assert_str_eq(host, "mixed.example.com");
	free(rec);

	/* 253 characters: labels of 63 */
	memset(longest, 'a', 253);
	longest[63] = longest[127] = longest[191] = '.';
	longest[253] = '\0';
	rec = hello_sni(longest, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 1);
	ck_assert_str_eq(host, longest);
	ck_assert_int_eq(kg_sniff_tls_sni(rec->b, rec->n, host, 253), -ENOSPC);
	free(rec);

	rec = hello_sni("xn--bcher-kva.example", 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), 1);
	ck_assert_str_eq(host, "xn--bcher-kva.example");
	free(rec);
}
END_TEST

START_TEST(tls_invalid_names)
{
	static const char *const bad[] = {
	    "a_b.example.com", "a..b",	     ".a.example",  "a.example..",
	    "-a.example",      "a-.example", "a b.example", "caf\xc3\xa9.example",
	    "a.example/x",     "1.2.3.4x.5", "10.0.0.999",  "host.123",
	    "a:443",	       "[::1]",	     ".",
	};
	char host[KG_HOST_MAX];
	char name[300];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bytes *rec = hello_sni(bad[i], 16384);
		ck_assert_msg(sni(rec->b, rec->n, host) == -EBADMSG, "%s", bad[i]);
		free(rec);
	}
	/* label of 64, name of 254 */
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	struct bytes *rec = hello_sni(name, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
	memset(name, 'a', 254);
	name[63] = name[127] = name[191] = '.';
	name[254] = '\0';
	rec = hello_sni(name, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);

	/* NUL inside the name */
	rec = hello_sni("evil.example.com", 16384);
	for (size_t i = 0; i + 4 <= rec->n; i++)
		if (memcmp(rec->b + i, "evil", 4) == 0)
			rec->b[i + 2] = '\0';
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
}
END_TEST

START_TEST(tls_malformed_structure)
{
	struct bytes exts = {.n = 0};
	char host[KG_HOST_MAX];
	struct bytes *rec;

	/* record of length 0, record over 2^14, handshake type ServerHello */
	static const uint8_t empty_record[] = {0x16, 0x03, 0x01, 0x00, 0x00, 0x16, 0x03};
	static const uint8_t huge_record[] = {0x16, 0x03, 0x01, 0x40, 0x01, 0x01};
	static const uint8_t server_hello[] = {0x16, 0x03, 0x03, 0x00, 0x04,
					       0x02, 0x00, 0x00, 0x00};
	ck_assert_int_eq(sni(empty_record, sizeof(empty_record), host), -EBADMSG);
	ck_assert_int_eq(sni(huge_record, sizeof(huge_record), host), -EBADMSG);
	ck_assert_int_eq(sni(server_hello, sizeof(server_hello), host), -EBADMSG);

	/* an alert record interleaved with the handshake fragments */
	rec = hello_sni("x.example", 10);
	rec->b[15] = 0x15;
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
	/* a later record that is not TLS 1.x */
	rec = hello_sni("x.example", 10);
	rec->b[16] = 0x02;
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);

	/* two server_name extensions; two host_names in one list; empty extension */
	add_sni(&exts, "one.example");
	add_sni(&exts, "two.example");
	rec = hello_with(&exts, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
	exts.n = 0;
	static const uint8_t two_names[] = {0x00, 0x0c, 0, 0, 3,   'a', '.',
					    'b',  0,	0, 3, 'c', '.', 'd'};
	add_ext(&exts, 0, two_names, sizeof(two_names));
	rec = hello_with(&exts, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
	exts.n = 0;
	add_ext(&exts, 0, "", 0);
	rec = hello_with(&exts, 16384);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);

	/* extensions length not matching what follows: one byte short and one byte long */
	exts.n = 0;
	add_sni(&exts, "x.example");
	for (int delta = -1; delta <= 1; delta += 2) {
		rec = hello_with(&exts, 16384);
		size_t ext_len_off = 5 + 4 + 2 + 32 + 1 + 4 + 2;
		rec->b[ext_len_off + 1] = (uint8_t)(rec->b[ext_len_off + 1] + delta);
		ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
		free(rec);
	}

	/* session id of 33 bytes; odd cipher suite length; no compression methods */
	static const size_t sid_off = 5 + 4 + 2 + 32;
	rec = hello_sni("x.example", 16384);
	rec->b[sid_off] = 33;
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	rec->b[sid_off] = 0;
	rec->b[sid_off + 2] = 3;
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	rec->b[sid_off + 2] = 2;
	rec->b[sid_off + 5] = 0;
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);

	/* handshake length shorter than the hello: the body is cut inside the extensions */
	rec = hello_sni("x.example", 16384);
	rec->b[8] = (uint8_t)(rec->b[8] - 3);
	ck_assert_int_eq(sni(rec->b, rec->n, host), -EBADMSG);
	free(rec);
}
END_TEST

/* Every single-byte corruption of real hellos: any answer but a crash, and a name only if
 * it is a valid one. */
START_TEST(tls_every_byte_corrupted)
{
	uint8_t copy[600];
	char host[KG_HOST_MAX];

	for (size_t i = 0; i < sizeof(captures) / sizeof(captures[0]); i++) {
		const struct capture *c = &captures[i];
		ck_assert_uint_le(c->len, sizeof(copy));
		for (size_t k = 0; k < c->len; k++) {
			static const uint8_t values[] = {0x00, 0xff, 0x80, 0x2e};
			for (size_t v = 0; v < sizeof(values); v++) {
				memcpy(copy, c->bytes, c->len);
				copy[k] ^= values[v] ? values[v] : copy[k];
				int r = sni(copy, c->len, host);
				ck_assert(r == 1 || r == 0 || r == -EAGAIN || r == -EBADMSG);
				if (r == 1)
					ck_assert_uint_le(strlen(host), 253);
			}
		}
	}
}
END_TEST

static int http_host(const char *req, char host[KG_HOST_MAX], uint16_t *port)
{
	memset(host, 'X', KG_HOST_MAX);
	*port = 4242;
	return kg_sniff_http_host((const uint8_t *)req, strlen(req), host, KG_HOST_MAX, port);
}

START_TEST(http_host_found)
{
	static const struct {
		const char *req;
		const char *host;
		uint16_t port;
	} ok[] = {
	    {"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n", "www.example.com", 0},
	    {"GET /a?b HTTP/1.1\r\nhOsT:   WWW.Example.COM:8080  \r\nAccept: */*\r\n\r\n",
	     "www.example.com", 8080},
	    {"POST /x HTTP/1.0\r\nContent-Length: 0\r\nHost: example.com.\r\n\r\n", "example.com",
	     0},
	    {"GET / HTTP/1.1\r\nHost: 192.0.2.7:81\r\n\r\n", "192.0.2.7", 81},
	    {"GET / HTTP/1.1\r\nHost: [2001:DB8:0:0::1]:8080\r\n\r\n", "[2001:db8::1]", 8080},
	    {"GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "[::1]", 0},
	    {"GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n", "example.com", 0},
	    /* absolute-form wins over Host (RFC 9112 §3.2.2) */
	    {"GET http://Abs.Example.org:8000/p HTTP/1.1\r\nHost: other.example\r\n\r\n",
	     "abs.example.org", 8000},
	    {"GET HTTP://abs.example.org?q HTTP/1.1\r\n\r\n", "abs.example.org", 0},
	    {"OPTIONS * HTTP/1.1\r\nHost: opt.example\r\n\r\n", "opt.example", 0},
	};
	char host[KG_HOST_MAX];
	uint16_t port;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ck_assert_msg(http_host(ok[i].req, host, &port) == 1, "%s", ok[i].req);
		ck_assert_str_eq(host, ok[i].host);
		ck_assert_uint_eq(port, ok[i].port);
		/* every prefix waits; the body after the head does not matter */
		size_t n = strlen(ok[i].req);
		for (size_t k = 0; k < n; k++) {
			int r = kg_sniff_http_host((const uint8_t *)ok[i].req, k, host,
						   sizeof(host), &port);
			ck_assert_msg(r == -EAGAIN, "%s prefix %zu: %d", ok[i].req, k, r);
		}
	}
}
END_TEST

START_TEST(http_host_absent_or_not_http)
{
	static const char *const none[] = {
	    "GET / HTTP/1.0\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost:\r\n\r\n",
	    "SSH-2.0-OpenSSH_9.2\r\n",
	    "get / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	    "\x16\x03\x01\x00\x05",
	    " GET / HTTP/1.1\r\n",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n",
	    "\r\nGET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
	};
	char host[KG_HOST_MAX];
	uint16_t port;

	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		ck_assert_msg(http_host(none[i], host, &port) == 0, "%s", none[i]);
	ck_assert_uint_eq((uint8_t)host[0], 'X');
	ck_assert_uint_eq(port, 4242);
}
END_TEST

START_TEST(http_host_malformed)
{
	static const char *const bad[] = {
	    "GET / HTTP/1.1\r\nHost: a.example\r\nHost: a.example\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: exa_mple.com\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: [fe80::1%eth0]\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: ::1\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: 1.2.3.999\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: 01.2.3.4\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a.example:99999\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a.example:0\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a.example:80:80\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: a.example:8x\r\n\r\n",
	    "GET / HTTP/1.1\r\nHost: user@a.example\r\n\r\n",
	    "GET http://user@a.example/ HTTP/1.1\r\n\r\n",
	    "GET http:///x HTTP/1.1\r\n\r\n",
	    "GET ftp://a.example/ HTTP/1.1\r\n\r\n",
	    "GET / HTTP/1.1\nHost: a.example\n\n",
	    "GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",
	    "GET / HTTP/1.1\r\nX: y\r\n Host: a.example\r\n\r\n",
	    "GET / HTTP/2.0\r\nHost: a.example\r\n\r\n",
	};
	char host[KG_HOST_MAX];
	uint16_t port;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(http_host(bad[i], host, &port) == -EBADMSG, "%s", bad[i]);

	/* NUL in a header value */
	static const char nul[] = "GET / HTTP/1.1\r\nHost: a.example\r\nX: a\0b\r\n\r\n";
	ck_assert_int_eq(
	    kg_sniff_http_host((const uint8_t *)nul, sizeof(nul) - 1, host, sizeof(host), &port),
	    -EBADMSG);
	static const char small[] = "GET / HTTP/1.1\r\nHost: a.example\r\n\r\n";
	ck_assert_int_eq(
	    kg_sniff_http_host((const uint8_t *)small, sizeof(small) - 1, host, 5, &port), -ENOSPC);
}
END_TEST

/* No end of headers within KG_SNIFF_MAX: wait below the cap, give up (0) at it. */
START_TEST(http_host_cap)
{
	size_t n = KG_SNIFF_MAX + 5000;
	uint8_t *buf = malloc(n);
	char host[KG_HOST_MAX];
	uint16_t port;
	size_t off = 0;

	off += (size_t)snprintf((char *)buf, n, "GET / HTTP/1.1\r\nHost: capped.example\r\n");
	/* few long lines: neither the line cap nor the field count is what stops it */
	while (off + 4100 < n)
		off += (size_t)snprintf((char *)buf + off, n - off, "X-Filler: %04000d\r\n", 0);
	ck_assert_int_eq(kg_sniff_http_host(buf, KG_SNIFF_MAX - 1, host, sizeof(host), &port),
			 -EAGAIN);
	ck_assert_int_eq(kg_sniff_http_host(buf, KG_SNIFF_MAX, host, sizeof(host), &port), 0);
	ck_assert_int_eq(kg_sniff_http_host(buf, off, host, sizeof(host), &port), 0);

	/* one header line longer than the request parser allows: no name (0), not an error */
	memset(buf, 'a', n);
	memcpy(buf, "GET / HTTP/1.1\r\nHost: a.example\r\nX: ", 36);
	ck_assert_int_eq(kg_sniff_http_host(buf, 10000, host, sizeof(host), &port), 0);
	free(buf);
}
END_TEST

START_TEST(authority_parse)
{
	char host[KG_HOST_MAX];
	uint16_t port = 1;

	ck_assert_int_eq(kg_authority_parse("Proxy.Example:3128", 18, host, sizeof(host), &port),
			 0);
	ck_assert_str_eq(host, "proxy.example");
	ck_assert_uint_eq(port, 3128);
	ck_assert_int_eq(
	    kg_authority_parse("[::ffff:192.0.2.1]:443", 22, host, sizeof(host), &port), 0);
	ck_assert_str_eq(host, "[::ffff:192.0.2.1]");
	ck_assert_int_eq(kg_authority_parse("a.example:65535", 15, host, sizeof(host), &port), 0);
	ck_assert_uint_eq(port, 65535);
	ck_assert_int_eq(kg_authority_parse("a.example:65536", 15, host, sizeof(host), &port),
			 -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("a.example:000080", 16, host, sizeof(host), &port),
			 -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("", 0, host, sizeof(host), &port), -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("[]", 2, host, sizeof(host), &port), -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("[::1]x", 6, host, sizeof(host), &port), -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("[1.2.3.4]", 9, host, sizeof(host), &port), -EBADMSG);
	ck_assert_int_eq(kg_authority_parse("192.0.2.1", 9, host, 9, &port), -ENOSPC);
	ck_assert_int_eq(kg_authority_parse("192.0.2.1", 9, host, 10, &port), 0);
	ck_assert_int_eq(kg_authority_parse("[::1]", 5, host, 5, &port), -ENOSPC);
	/* the length bounds the input: no NUL needed, none looked for */
	ck_assert_int_eq(kg_authority_parse("a.example:80garbage", 12, host, sizeof(host), &port),
			 0);
	ck_assert_uint_eq(port, 80);
}
END_TEST

static Suite *sniff_suite(void)
{
	Suite *s = suite_create("sniff");
	TCase *tls = tcase_create("tls");
	TCase *http = tcase_create("http");

	tcase_add_test(tls, tls_captured_hellos);
	tcase_add_test(tls, tls_captured_refragmented);
	tcase_add_test(tls, tls_large_hello_split);
	tcase_add_test(tls, tls_beyond_cap);
	tcase_add_test(tls, tls_not_tls);
	tcase_add_test(tls, tls_no_sni);
	tcase_add_test(tls, tls_name_normalised);
	tcase_add_test(tls, tls_invalid_names);
	tcase_add_test(tls, tls_malformed_structure);
	tcase_add_test(tls, tls_every_byte_corrupted);
	tcase_set_timeout(tls, 60);
	suite_add_tcase(s, tls);
	tcase_add_test(http, http_host_found);
	tcase_add_test(http, http_host_absent_or_not_http);
	tcase_add_test(http, http_host_malformed);
	tcase_add_test(http, http_host_cap);
	tcase_add_test(http, authority_parse);
	suite_add_tcase(s, http);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sniff_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
