/*
 * url: credentials in URLs, found and masked (issue #11).
 *
 * A URL option may carry credentials in its userinfo (`https://user:password@host/`). libcurl
 * uses them, and error texts (ours and libcurl's) repeat the URL, so every output of a module
 * would show them. The protocol layer (module.c) therefore:
 *   - passes every string it prints (result, msg, warnings, invocation, stderr notes) through
 *     url_mask(), which masks the userinfo of any URL in the text, whatever option or answer it
 *     came from;
 *   - registers the credential of every URL in an option declared `.url = true` (raw and
 *     percent-decoded) as a secret, so it is masked even where it appears without its URL.
 * What is masked: the password of `user:password@` (the user name stays, as Ansible shows it),
 * or the whole userinfo when it has no ':' (a token used as user name). RFC 3986 §3.2.1: the
 * userinfo is what precedes the last '@' of the authority, which ends at the first '/', '?'
 * or '#' after "scheme://".
 *
 * Memory: url_mask() and url_percent_decode() return malloc'ed strings; the caller frees them.
 */
#ifndef ETCD_ANSIBLE_URL_H
#define ETCD_ANSIBLE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* What a masked credential reads as. */
#define URL_MASK "********"

/*
 * The first URL credential in text: *offset and *len (bytes from text) of the part to mask.
 * A URL starts at the text's start or after a character that is not a letter or digit, with
 * "scheme://"; it has a credential when its authority has a non-empty userinfo.
 */
bool url_find_credential(const char *text, size_t *offset, size_t *len);

/* A copy of text with the credential of every URL in it masked (NULL on ENOMEM). */
char *url_mask(const char *text);

/* A percent-decoded copy of the len bytes at s (NULL on ENOMEM): what libcurl sends. */
char *url_percent_decode(const char *s, size_t len);

#endif
