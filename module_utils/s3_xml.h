/*
 * s3_xml: the tiny XML reader S3's answers need (error documents, UploadId, ListObjectsV2
 * pages, DeleteObjects results). No DTDs, no namespaces: S3 sends none where we look.
 * Fuzzed by tests/fuzz/fuzz_s3_xml.c.
 *
 * Ownership: aws_xml_text and aws_xml_get return malloc'ed strings (caller frees); the spans
 * aws_xml_find returns point into the borrowed input.
 */
#ifndef ETCD_ANSIBLE_S3_XML_H
#define ETCD_ANSIBLE_S3_XML_H

#include <stddef.h>

/*
 * Finds the next element <name> (attributes allowed) in xml[0..len) and returns its content
 * span. Returns 0, or -ENOENT. Nested elements of the same name are not supported (S3 has none
 * where we look).
 */
int aws_xml_find(const char *xml, size_t len, const char *name, const char **content,
		 size_t *content_len);
/* Content with the five XML entities and &#N; / &#xH; decoded; malloc'ed, NULL if invalid. */
char *aws_xml_text(const char *content, size_t len);

/* The decoded text of the first <name> in xml[0..len) (aws_xml_find + aws_xml_text), or NULL. */
char *aws_xml_get(const char *xml, size_t len, const char *name);

#endif
