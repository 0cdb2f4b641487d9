/* Base64 (RFC 4648 §4) for the Negotiate tokens: strict, bounded, no allocation. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Size of the base64 text (without NUL) for n bytes; n must be a bounded size. */
#define KG_BASE64_LEN(n) ((((n) + 2) / 3) * 4)
/* Standard alphabet with padding, NUL-terminated. 0 and *ret_len, or -ENOSPC. */
int kg_base64_encode(const uint8_t *in, size_t len, char *out, size_t outcap, size_t *ret_len);
/* Strict: length a multiple of 4, padding only at the end, no whitespace, canonical trailing
 * bits. 0 and *ret_len, -EBADMSG for anything else, -ENOSPC if outcap is too small. */
int kg_base64_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *ret_len);
