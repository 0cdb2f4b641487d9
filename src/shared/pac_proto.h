/* The PAC evaluator's wire protocol (issue 13): the messages between the client
 * (src/client/route/pac_proc.c) and the sandboxed evaluator kernelgatekeeper-pac (src/pac/),
 * over a socketpair on the evaluator's fd 0/1. Pure encoding and decoding, no I/O, so the
 * parser can be fuzzed (tests/fuzz/fuzz_pac_proto.c).
 *
 * A frame is a 4-byte big-endian body length (1..KG_PAC_BODY_MAX), then the body: one type
 * byte, then the fields of that type, nothing after them. Integers are big-endian. A string
 * is a u32 length, that many bytes, then one NUL byte (so the decoder hands out C strings
 * pointing into the frame); it never contains a NUL, and every string has its own bound.
 * An address is a family byte (4 or 6) and 16 bytes (IPv4 in the first 4, the rest zero);
 * family 0 with 16 zero bytes is "no address".
 *
 *   client -> evaluator
 *     LOAD   script (string, at most 1 MiB; any byte but NUL)
 *     FIND   url (string, printable), host (string, printable), my_ip (address),
 *            now (i64, seconds since the epoch), tz_offset (i32, seconds east of UTC, at
 *            most 24 h either way), DNS table: u16 count (at most KG_PAC_DNS_MAX), each
 *            entry a host (string, printable, unique in the table), u8 address count (at
 *            most KG_PAC_DNS_ADDRS_MAX; 0 means "not found") and the addresses.
 *   evaluator -> client
 *     OK        (LOAD succeeded; no fields)
 *     RESULT    the string FindProxyForURL returned (printable)
 *     NEED_DNS  a host name (printable) the PAC asked about that is not in the table
 *     ALERT     one alert() message (printable), sent before the answer it belongs to
 *     ERROR     u8 kind (enum kg_pac_err), a sentence (printable)
 * "Printable" is bytes 0x20..0x7e and 0x80..0xff (UTF-8 passes, control characters do not).
 * Sizes in characters exclude the terminating NUL.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KG_PAC_SCRIPT_MAX    (1024 * 1024) /* LOAD: the PAC text */
#define KG_PAC_URL_MAX	     8192
#define KG_PAC_HOST_MAX	     255
#define KG_PAC_RESULT_MAX    8192
#define KG_PAC_TEXT_MAX	     512 /* ERROR sentences and ALERT messages */
#define KG_PAC_DNS_MAX	     64	 /* host names in one FIND's table */
#define KG_PAC_DNS_ADDRS_MAX 16	 /* addresses per name */
#define KG_PAC_TZ_OFFSET_MAX (24 * 3600)
#define KG_PAC_ALERTS_MAX    16 /* ALERT messages per LOAD or FIND; the rest are dropped */
#define KG_PAC_FRAME_HDR     4
/* The largest body: a LOAD of the largest script (type, length, script, NUL). */
#define KG_PAC_BODY_MAX (1 + 4 + KG_PAC_SCRIPT_MAX + 1)
/* Room for any frame but LOAD (the biggest FIND: url, host and a full DNS table). */
#define KG_PAC_SMALL_FRAME_MAX                                                                     \
	(KG_PAC_FRAME_HDR + 1 + 2 * 5 + KG_PAC_URL_MAX + KG_PAC_HOST_MAX + 17 + 8 + 4 + 2 +        \
	 KG_PAC_DNS_MAX * (5 + KG_PAC_HOST_MAX + 1 + KG_PAC_DNS_ADDRS_MAX * 17))

enum kg_pac_msg_type {
	KG_PAC_LOAD = 1,
	KG_PAC_FIND = 2,
	KG_PAC_OK = 3,
	KG_PAC_RESULT = 4,
	KG_PAC_NEED_DNS = 5,
	KG_PAC_ALERT = 6,
	KG_PAC_ERROR = 7,
};

/* What an ERROR is about; the client restarts the evaluator after KG_PAC_ERR_OOM (its heap is
 * suspect) and KG_PAC_ERR_PROTOCOL. */
enum kg_pac_err {
	KG_PAC_ERR_SCRIPT = 1,	 /* the PAC: syntax error, threw, bad return value, no PAC */
	KG_PAC_ERR_OOM = 2,	 /* the PAC hit the evaluator's memory cap */
	KG_PAC_ERR_PROTOCOL = 3, /* the evaluator refused a message */
};

struct kg_pac_addr {
	uint8_t family; /* 0 (none), 4 or 6 */
	uint8_t bytes[16];
};

struct kg_pac_dns_entry {
	const char *host;
	uint8_t naddr; /* 0: the name does not resolve */
	struct kg_pac_addr addr[KG_PAC_DNS_ADDRS_MAX];
};

struct kg_pac_find {
	const char *url;
	const char *host;
	struct kg_pac_addr my_ip;
	int64_t now;
	int32_t tz_offset;
	uint16_t ndns;
	struct kg_pac_dns_entry dns[KG_PAC_DNS_MAX];
};

/* A decoded message. Strings point into the decoded frame (or, for encoding, anywhere). */
struct kg_pac_msg {
	enum kg_pac_msg_type type;
	const char *text; /* LOAD script, RESULT, NEED_DNS host, ALERT and ERROR text */
	size_t text_len;
	enum kg_pac_err err;	 /* ERROR */
	struct kg_pac_find find; /* FIND */
};

/* The body length announced by a frame header: 0, or -EBADMSG when it is 0 or above
 * KG_PAC_BODY_MAX. */
int kg_pac_frame_body_len(const uint8_t hdr[KG_PAC_FRAME_HDR], size_t *body_len);

/* Parses one body (the bytes after the header). 0, or -EBADMSG for anything malformed: an
 * unknown type, a field out of its bounds, a string with a NUL or (where printable) a control
 * character or without its NUL, a bad address, a duplicate DNS host, a short body, bytes
 * left over (m is then all zero). m->text and the find strings point into body, which must
 * outlive m. The DNS entries past m->find.ndns are not touched. */
int kg_pac_msg_decode(const uint8_t *body, size_t len, struct kg_pac_msg *m);

/* The size of m's frame, header included, or -EINVAL when a field breaks the rules the
 * decoder checks (the encoder never writes what the decoder would refuse). */
ssize_t kg_pac_msg_size(const struct kg_pac_msg *m);

/* Writes m's frame into out: its size, -EINVAL as above, or -ENOSPC when cap is too small. */
ssize_t kg_pac_msg_encode(const struct kg_pac_msg *m, uint8_t *out, size_t cap);

/* The same for a FIND of f, without a struct kg_pac_msg around it (no copy of the table). For
 * text messages only type, err, text and text_len of m are read. */
ssize_t kg_pac_find_size(const struct kg_pac_find *f);
ssize_t kg_pac_find_encode(const struct kg_pac_find *f, uint8_t *out, size_t cap);

/* Address helpers: parses an IPv4 or IPv6 literal (0, -EINVAL), and prints one (the length,
 * or -EINVAL for family 0 or a bad family, -ENOSPC). */
int kg_pac_addr_parse(const char *s, struct kg_pac_addr *a);
int kg_pac_addr_format(const struct kg_pac_addr *a, char *out, size_t cap);

/* Copies text into out (size cap >= 1) as a printable string: control characters become
 * '?', and text longer than cap - 1 bytes is cut at a UTF-8 character boundary. The length. */
size_t kg_pac_sanitize(const char *text, size_t len, char *out, size_t cap);
