/* url: credentials in URLs, found and masked. See url.h. */
#include "url.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Length of "scheme://" at p (RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )), or 0. */
static size_t scheme_length(const char *p)
{
	size_t n = 0;

	if (!isalpha((unsigned char)p[0]))
		return 0;
	while (isalnum((unsigned char)p[n]) || p[n] == '+' || p[n] == '-' || p[n] == '.')
		n++;
	return strncmp(p + n, "://", 3) == 0 ? n + 3 : 0;
}

/* End of the authority that starts at p: the first '/', '?', '#', blank, quote or NUL. */
static size_t authority_length(const char *p)
{
	size_t n = 0;

	while (p[n] && !strchr("/?#\"' \t\r\n<>", p[n]))
		n++;
	return n;
}

/* The credential of the URL that starts at url, if it starts with "scheme://" and has one. */
static bool credential_span(const char *url, size_t *start, size_t *len)
{
	size_t scheme = scheme_length(url), authority, at = 0, colon;
	const char *a;

	if (!scheme)
		return false;
	a = url + scheme;
	authority = authority_length(a);
	for (size_t i = 0; i < authority; i++)
		if (a[i] == '@')
			at = i + 1; /* the last '@': a password may hold an unencoded one */
	if (at <= 1)
		return false;
	for (colon = 0; colon < at - 1 && a[colon] != ':'; colon++)
		;
	if (colon < at - 1) { /* user:password@ - the password only */
		*start = scheme + colon + 1;
		*len = at - 1 - colon - 1;
	} else { /* token@ - all of it */
		*start = scheme;
		*len = at - 1;
	}
	return *len > 0;
}

bool url_find_credential(const char *text, size_t *offset, size_t *len)
{
	for (const char *p = text; *p; p++) {
		size_t start;

		if ((p == text || !isalnum((unsigned char)p[-1])) &&
		    credential_span(p, &start, len)) {
			*offset = (size_t)(p - text) + start;
			return true;
		}
	}
	return false;
}

char *url_mask(const char *text)
{
	static const char mask_text[] = URL_MASK;
	size_t mask = sizeof(mask_text) - 1, size = strlen(text) + 1, used = 0, offset, len;
	const char *p = text;
	char *out = malloc(size);

	if (!out)
		return NULL;
	while (url_find_credential(p, &offset, &len)) {
		if (len < mask) { /* the mask is longer than what it hides */
			char *bigger = realloc(out, size + mask - len);

			if (!bigger) {
				free(out);
				return NULL;
			}
			out = bigger;
			size += mask - len;
		}
		memcpy(out + used, p, offset);
		used += offset;
		for (size_t i = 0; i < mask; i++)
			out[used++] = mask_text[i];
		p += offset + len;
	}
	memcpy(out + used, p, strlen(p) + 1);
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

char *url_percent_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi = i + 2 < len && s[i] == '%' ? hex_value(s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;

		if (lo >= 0) {
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}
