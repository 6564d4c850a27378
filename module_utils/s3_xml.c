#include "s3_xml.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int aws_xml_find(const char *xml, size_t len, const char *name, const char **content,
		 size_t *content_len)
{
	size_t nlen = strlen(name);
	const char *end = xml + len;

	for (const char *p = xml; p && p < end; p++) {
		const char *gt, *close;

		p = memchr(p, '<', (size_t)(end - p));
		if (!p)
			break;
		if ((size_t)(end - p) < nlen + 2 || strncmp(p + 1, name, nlen) != 0 ||
		    (p[nlen + 1] != '>' && p[nlen + 1] != ' ' && p[nlen + 1] != '/'))
			continue;
		gt = memchr(p, '>', (size_t)(end - p));
		if (!gt)
			return -ENOENT;
		if (gt[-1] == '/') { /* <Name/>: empty */
			*content = gt + 1;
			*content_len = 0;
			return 0;
		}
		for (close = gt + 1; close < end; close++) {
			close = memchr(close, '<', (size_t)(end - close));
			if (!close)
				return -ENOENT;
			if ((size_t)(end - close) >= nlen + 3 && close[1] == '/' &&
			    strncmp(close + 2, name, nlen) == 0 && close[nlen + 2] == '>') {
				*content = gt + 1;
				*content_len = (size_t)(close - gt - 1);
				return 0;
			}
		}
		return -ENOENT;
	}
	return -ENOENT;
}

static bool utf8_put(char **o, unsigned long cp)
{
	char *p = *o;

	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return false;
	if (cp < 0x80) {
		*p++ = (char)cp;
	} else if (cp < 0x800) {
		*p++ = (char)(0xC0 | (cp >> 6));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*p++ = (char)(0xE0 | (cp >> 12));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*p++ = (char)(0xF0 | (cp >> 18));
		*p++ = (char)(0x80 | ((cp >> 12) & 0x3F));
		*p++ = (char)(0x80 | ((cp >> 6) & 0x3F));
		*p++ = (char)(0x80 | (cp & 0x3F));
	}
	*o = p;
	return true;
}

char *aws_xml_text(const char *content, size_t len)
{
	static const struct {
		const char *name;
		char c;
	} entities[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	char *out = malloc(len + 1), *o = out;
	const char *end = content + len;

	if (!out)
		return NULL;
	for (const char *p = content; p < end;) {
		const char *semi;
		bool done = false;

		if (*p != '&') {
			*o++ = *p++;
			continue;
		}
		semi = memchr(p, ';', (size_t)(end - p) < 12 ? (size_t)(end - p) : 12);
		if (!semi)
			goto bad;
		for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]) && !done; i++)
			if ((size_t)(semi - p) == strlen(entities[i].name) &&
			    strncmp(p + 1, entities[i].name, strlen(entities[i].name)) == 0) {
				*o++ = entities[i].c;
				done = true;
			}
		if (!done && p[1] == '#') {
			char *stop;
			bool is_hex = p[2] == 'x' || p[2] == 'X';
			unsigned long cp = strtoul(p + (is_hex ? 3 : 2), &stop, is_hex ? 16 : 10);

			/* &#N; takes at most as many bytes as it decodes to: out stays in bounds */
			if (stop != semi || stop == p + (is_hex ? 3 : 2) || !utf8_put(&o, cp))
				goto bad;
			done = true;
		}
		if (!done)
			goto bad;
		p = semi + 1;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *aws_xml_get(const char *xml, size_t len, const char *name)
{
	const char *c;
	size_t clen;

	return aws_xml_find(xml, len, name, &c, &clen) == 0 ? aws_xml_text(c, clen) : NULL;
}
