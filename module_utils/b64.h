/*
 * b64: base64 (RFC 4648 §4, with padding) and base64url (RFC 4648 §5, as JOSE uses it: no
 * padding, RFC 7515 §2 "Base64url Encoding").
 *
 * Decoding is strict: any character outside the alphabet (whitespace included) is refused, as is
 * a length no encoder produces and non-zero bits in the last character's unused low bits
 * (RFC 4648 §3.5 lets a decoder reject them; every encoder writes zeros). Standard base64 must be
 * padded to a multiple of 4; base64url may omit its padding, and if padding is present it must be
 * exactly right.
 *
 * Ownership: encoders return a malloc'ed NUL-terminated string (caller frees; NULL only when
 * out of memory). Decoders store a malloc'ed buffer in *out with one extra NUL byte after
 * *out_len bytes, so decoded JSON can be handed to a string parser; the caller frees it (and
 * wipes it first if it held a secret). On failure *out is NULL and err names the offset.
 */
#ifndef ETCD_ANSIBLE_B64_H
#define ETCD_ANSIBLE_B64_H

#include "error.h"

#include <stddef.h>

/* base64url without padding: "-" and "_" instead of "+" and "/". */
char *b64url_encode(const void *data, size_t len);
int b64url_decode(const char *text, unsigned char **out, size_t *out_len, struct error *err);
/* The same over text[0..text_len), which need not be NUL-terminated (a part of a JWS/JWE). */
int b64url_decode_n(const char *text, size_t text_len, unsigned char **out, size_t *out_len,
		    struct error *err);

/* Standard base64 with "=" padding. */
char *b64_encode(const void *data, size_t len);
int b64_decode(const char *text, unsigned char **out, size_t *out_len, struct error *err);

/*
 * Standard base64 text[0..len) decoded into out, which holds at least len / 4 * 3 bytes, with no
 * allocation and no message: the hot path of snapshot streams (a table lookup per character, four
 * at a time). It takes exactly what b64_decode takes and returns the byte count, or -1 where
 * b64_decode would refuse the text (call it then for the reason).
 */
long b64_decode_into(const char *text, size_t len, unsigned char *out);

#endif
