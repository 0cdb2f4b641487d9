// fuzz-sources: src/client/route/wpad.c
// fuzz-libs: -lpsl
/* libFuzzer target for the DHCP lease parsers of WPAD discovery (src/client/route/wpad.c):
 * the input is read as a systemd-networkd (KEY=VALUE) lease and as an ISC dhclient lease,
 * with expiry ignored and checked against a fixed time.
 *
 * Beyond "no crash": results are one of the documented codes; a found URL is NUL-terminated
 * within the buffer, printable ASCII without spaces, and starts with http:// or https://;
 * a buffer too small for the URL gives -E2BIG, never a truncated URL.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "client/route/wpad.h"

static void check(int r, const char *url, size_t url_sz)
{
	size_t n;

	assert(r == 0 || r == -ENOENT || r == -EBADMSG || r == -E2BIG);
	if (r != 0)
		return;
	n = strnlen(url, url_sz);
	assert(n < url_sz);
	assert(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
	for (size_t i = 0; i < n; i++)
		assert(url[i] > 0x20 && url[i] < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[KG_WPAD_URL_MAX], small[12];
	const char *buf = (const char *)data;
	int r;

	r = kg_wpad_parse_keyfile(buf, size, url, sizeof(url));
	check(r, url, sizeof(url));
	r = kg_wpad_parse_keyfile(buf, size, small, sizeof(small));
	check(r, small, sizeof(small));
	r = kg_wpad_parse_dhclient(buf, size, 0, url, sizeof(url));
	check(r, url, sizeof(url));
	r = kg_wpad_parse_dhclient(buf, size, 1796549400, url, sizeof(url));
	check(r, url, sizeof(url));
	r = kg_wpad_parse_dhclient(buf, size, 0, small, sizeof(small));
	check(r, small, sizeof(small));
	return 0;
}
