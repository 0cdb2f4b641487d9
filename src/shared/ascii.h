/* ASCII-only helpers (locale independent) for the protocol parsers and sniffers. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint8_t kg_ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

static inline bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline bool is_alnum(uint8_t c)
{
	uint8_t l = kg_ascii_lower(c);
	return is_digit(c) || (l >= 'a' && l <= 'z');
}

/* Case-insensitive comparison of buf[0..len) with the NUL-terminated lower-case word. */
static inline bool kg_ascii_eq_ci(const uint8_t *buf, size_t len, const char *word)
{
	size_t n = strlen(word);

	if (len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (kg_ascii_lower(buf[i]) != (uint8_t)word[i])
			return false;
	return true;
}
