// fuzz-sources: src/client/route/wpad.c
// fuzz-libs: -lpsl
/* libFuzzer target for kg_wpad_check_url() on raw option 252 bytes: the value NetworkManager's
 * D-Bus answer hands over as it came from the DHCP server (nm_wpad.c; the D-Bus framing itself
 * is sd-bus's), and the value every lease parser ends in.
 *
 * Invariants: a result is one of the documented codes; an accepted URL is NUL-terminated within
 * the buffer, printable ASCII without spaces, starts with http:// or https://, and is what the
 * value says once trailing NULs and whitespace are dropped; a buffer one byte short gives
 * -E2BIG, never a truncated URL; and the URL checks as usable again, unchanged.
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "client/route/wpad.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[KG_WPAD_URL_MAX], again[KG_WPAD_URL_MAX];
	size_t n;
	int r;

	r = kg_wpad_check_url(data, size, url, sizeof(url));
	assert(r == 0 || r == -EBADMSG || r == -E2BIG);
	if (r != 0)
		return 0;
	n = strnlen(url, sizeof(url));
	assert(n < sizeof(url) && n <= size);
	assert(strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0);
	for (size_t i = 0; i < n; i++)
		assert(url[i] > 0x20 && url[i] < 0x7f);
	assert(kg_wpad_check_url(url, n, again, sizeof(again)) == 0 && strcmp(again, url) == 0);
	assert(kg_wpad_check_url(data, size, again, n) == -E2BIG);
	return 0;
}
