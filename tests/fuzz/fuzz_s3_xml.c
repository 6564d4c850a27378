/*
 * libFuzzer target for the XML reader of S3's answers (aws_xml_find / aws_xml_text in
 * module_utils/s3_xml.c): any bytes as an answer body, walked the way s3.c walks them --
 * ListObjectsV2 <Contents> entries with Key/Size/LastModified/ETag, IsTruncated and
 * NextContinuationToken, DeleteObjects <Error> with Key/Code/Message, ListMultipartUploads
 * <Upload> counting, CompleteMultipartUpload's Error / result / ETag, an error answer's
 * Code/Message/RequestId.
 *
 * Checked: no crash, hang or leak; every content span lies inside the input and starts after its
 * opening tag; the loops move forward; decoded text is never longer than its source, has no
 * '&' unless the source had an entity, and is the source itself when the source has no '&'.
 */
#include "s3_xml.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const NAMES[] = {
    "Key",
    "Size",
    "LastModified",
    "ETag",
    "IsTruncated",
    "NextContinuationToken",
    "Code",
    "Message",
    "RequestId",
    "Error",
    "CompleteMultipartUploadResult",
    "UploadId",
    "Bucket",
    "Contents",
    "Upload",
    "Deleted",
};

static void check_text(const char *content, size_t len)
{
	char *text = aws_xml_text(content, len);
	size_t n;

	if (!text)
		return;
	n = strlen(text);
	if (n > len)
		abort();
	if (!memchr(content, '&', len) && (n != len || memcmp(text, content, len) != 0)) {
		/* a NUL byte in the source legitimately ends the C string early */
		if (!memchr(content, '\0', len) || memcmp(text, content, n) != 0)
			abort();
	}
	free(text);
}

/* Finds name in [xml, xml+len), checks the span, and checks its decoded text. 0 or -ENOENT. */
static int find(const char *xml, size_t len, const char *name, const char **content,
		size_t *content_len)
{
	int rc = aws_xml_find(xml, len, name, content, content_len);

	if (rc != 0 && rc != -ENOENT)
		abort();
	if (rc == 0) {
		if (*content < xml + strlen(name) + 2 || *content > xml + len ||
		    *content_len > (size_t)(xml + len - *content))
			abort();
		check_text(*content, *content_len);
	}
	return rc;
}

/* Every occurrence of name, the way s3_list_objects and s3_count_multipart_uploads loop. */
static void walk(const char *xml, size_t len, const char *name)
{
	const char *block, *p, *c;
	size_t block_len, clen;

	for (p = xml; find(p, len - (size_t)(p - xml), name, &block, &block_len) == 0;
	     p = block + block_len) {
		if (block <= p)
			abort(); /* no progress: the loop in s3.c would never end */
		for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++)
			find(block, block_len, NAMES[i], &c, &clen);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *xml = (const char *)data, *c;
	size_t clen;

	walk(xml, size, "Contents");
	walk(xml, size, "Upload");
	walk(xml, size, "Error");
	for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++)
		find(xml, size, NAMES[i], &c, &clen);
	check_text(xml, size);
	return 0;
}
