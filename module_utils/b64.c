#include "b64.h"

#include <openssl/crypto.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Encoded length: 4 characters per 3 bytes; a last group of 1 or 2 bytes is 2 or 3 characters,
 * padded to 4 with "=" when pad is set. */
static char *encode(const unsigned char *in, size_t len, const char *alphabet, bool pad)
{
	size_t rest = len % 3, out_len, o = 0, i;
	char *out;

	if (len / 3 >= SIZE_MAX / 4 - 1)
		return NULL;
	out_len = len / 3 * 4 + (rest == 0 ? 0 : pad ? 4 : rest + 1);
	out = malloc(out_len + 1);
	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t group = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[group >> 18 & 63];
		out[o++] = alphabet[group >> 12 & 63];
		out[o++] = alphabet[group >> 6 & 63];
		out[o++] = alphabet[group & 63];
	}
	if (rest) {
		uint32_t group = (uint32_t)in[i] << 16 | (rest == 2 ? (uint32_t)in[i + 1] << 8 : 0);

		out[o++] = alphabet[group >> 18 & 63];
		out[o++] = alphabet[group >> 12 & 63];
		if (rest == 2)
			out[o++] = alphabet[group >> 6 & 63];
		while (pad && o < out_len)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

char *b64url_encode(const void *data, size_t len)
{
	return encode(data, len, url_alphabet, false);
}

char *b64_encode(const void *data, size_t len)
{
	return encode(data, len, std_alphabet, true);
}

/* The 6-bit value of c, or -1 if c is not in the alphabet. */
static int sextet(unsigned char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Checks the padding and length rules; returns the number of characters carrying data. */
static int data_length(const char *text, size_t len, bool url, size_t *data_len, struct error *err)
{
	const char *name = url ? "base64url" : "base64";
	size_t pad = 0;

	while (pad < 3 && pad < len && text[len - 1 - pad] == '=')
		pad++;
	if (pad > 0 && len % 4 != 0)
		return error_set(err, -EINVAL, "invalid %s: misplaced padding", name);
	if (pad == 0 && !url && len % 4 != 0)
		return error_set(err, -EINVAL, "invalid base64: length %zu is not a multiple of 4",
				 len);
	/* One character holds 6 bits, never a whole byte: no encoder ends a group with one. */
	if ((len - pad) % 4 == 1)
		return error_set(err, -EINVAL, "invalid %s: truncated input (length %zu)", name,
				 len);
	*data_len = len - pad;
	return 0;
}

static int decode(const char *text, size_t len, bool url, unsigned char **out, size_t *out_len,
		  struct error *err)
{
	const char *name = url ? "base64url" : "base64";
	unsigned char *buf = NULL;
	size_t data_len = 0, cap = 0, o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	int rc;

	*out = NULL;
	*out_len = 0;
	rc = data_length(text, len, url, &data_len, err);
	if (rc < 0)
		return rc;
	cap = data_len / 4 * 3 + 3;
	buf = malloc(cap);
	if (!buf)
		return error_set(err, -ENOMEM, "%s: out of memory", name);
	for (size_t i = 0; i < data_len; i++) {
		int v = sextet((unsigned char)text[i], url);

		if (v < 0) {
			rc = error_set(err, -EINVAL,
				       "invalid %s: unexpected character at offset %zu", name, i);
			goto out;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {
		rc = error_set(err, -EINVAL, "invalid %s: non-zero trailing bits", name);
		goto out;
	}
	buf[o] = '\0';
	*out = buf;
	*out_len = o;
	buf = NULL;
out:
	/* What was decoded so far may be part of a key ("d"): wipe it before giving it back. */
	if (buf)
		OPENSSL_cleanse(buf, cap);
	free(buf);
	return rc;
}

/* The 6-bit value of every byte in the standard alphabet, 0xff for every other byte. */
#define STD_SEXTET(c)                                                                              \
	((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                    \
	 : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                               \
	 : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                               \
	 : (c) == '+'		    ? 62                                                           \
	 : (c) == '/'		    ? 63                                                           \
				    : 0xff)
#define STD_ROW4(c) STD_SEXTET(c), STD_SEXTET((c) + 1), STD_SEXTET((c) + 2), STD_SEXTET((c) + 3)
#define STD_ROW16(c) STD_ROW4(c), STD_ROW4((c) + 4), STD_ROW4((c) + 8), STD_ROW4((c) + 12)
static const uint8_t std_sextets[256] = {
    STD_ROW16(0),   STD_ROW16(16),  STD_ROW16(32),  STD_ROW16(48),  STD_ROW16(64),  STD_ROW16(80),
    STD_ROW16(96),  STD_ROW16(112), STD_ROW16(128), STD_ROW16(144), STD_ROW16(160), STD_ROW16(176),
    STD_ROW16(192), STD_ROW16(208), STD_ROW16(224), STD_ROW16(240),
};

long b64_decode_into(const char *text, size_t len, unsigned char *out)
{
	const unsigned char *in = (const unsigned char *)text;
	size_t pad = 0, full, o = 0;
	uint32_t a, b, c, d;

	if (len % 4 != 0 || len / 4 * 3 > (size_t)LONG_MAX)
		return -1;
	while (pad < 2 && pad < len && in[len - 1 - pad] == '=')
		pad++;
	full = pad ? len - 4 : len; /* the groups with no padding */
	for (size_t i = 0; i < full; i += 4) {
		a = std_sextets[in[i]];
		b = std_sextets[in[i + 1]];
		c = std_sextets[in[i + 2]];
		d = std_sextets[in[i + 3]];
		if ((a | b | c | d) & 0x80)
			return -1;
		a = a << 18 | b << 12 | c << 6 | d;
		out[o++] = (unsigned char)(a >> 16);
		out[o++] = (unsigned char)(a >> 8);
		out[o++] = (unsigned char)a;
	}
	if (pad == 0)
		return (long)o;
	/* "xy==" is one byte, "xyz=" two; the bits past them must be zero (RFC 4648 §3.5). */
	a = std_sextets[in[full]];
	b = std_sextets[in[full + 1]];
	c = pad == 1 ? std_sextets[in[full + 2]] : 0;
	if ((a | b | c) & 0x80 || (pad == 2 ? b & 0xf : c & 0x3))
		return -1;
	a = a << 18 | b << 12 | c << 6;
	out[o++] = (unsigned char)(a >> 16);
	if (pad == 1)
		out[o++] = (unsigned char)(a >> 8);
	return (long)o;
}

int b64url_decode_n(const char *text, size_t text_len, unsigned char **out, size_t *out_len,
		    struct error *err)
{
	return decode(text, text_len, true, out, out_len, err);
}

int b64url_decode(const char *text, unsigned char **out, size_t *out_len, struct error *err)
{
	return decode(text, strlen(text), true, out, out_len, err);
}

int b64_decode(const char *text, unsigned char **out, size_t *out_len, struct error *err)
{
	return decode(text, strlen(text), false, out, out_len, err);
}
