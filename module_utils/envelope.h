/*
 * envelope: the backup object format (docs/backups.md). A payload, optionally gzip-compressed
 * (zlib, gzip wrapper, RFC 1952), is encrypted as an AWS Encryption SDK message: message format
 * version 2, algorithm suite 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment, no signature),
 * framed content. Any ESDK (JavaScript, Python, the CLI) decrypts what the writer makes, and the
 * reader decrypts what they make with that suite. Sources: the ESDK developer guide "Message format
 * reference", "Body AAD reference", "Algorithms reference", and @aws-crypto/serialize 5.0.2.
 *
 * Streaming, both ways, in constant memory: the writer and the reader each hold one frame of
 * plaintext (the frame length; the reader refuses one above ENVELOPE_FRAME_LEN_MAX), the header,
 * and zlib's state: about 7 MB of RSS for a whole driver process at 64 KiB frames, whatever the
 * payload size. Output goes to a caller's sink as it is made.
 *
 * Release of plaintext: the reader hands decrypted bytes to the sink only after that frame's GCM
 * tag verified (per frame: that is what framing is for), and only after the key commitment and
 * the header's auth tag verified. A truncated or tampered message still may have released its
 * earlier, authentic frames before it fails: a caller that must act on the whole payload (a
 * restore) writes to a temporary place and uses it only when envelope_reader_finish returned 0.
 *
 * Keys: this unit never talks to KMS. The writer takes the plaintext data key and the list of
 * encrypted data keys (EDKs) to put in the header; the reader hands the parsed header to a
 * caller's callback that returns the data key. A raw AES keyring compatible with
 * @aws-crypto/raw-aes-keyring-node is here (envelope_raw_aes_*); a KMS EDK is simply
 * provider id "aws-kms", provider info the KMS key ARN, ciphertext the KMS CiphertextBlob.
 *
 * Encryption context: authenticated, in the clear. The writer serializes it sorted by the bytes of
 * the keys (as the ESDK spec and every ESDK's message header do). The JavaScript raw AES keyring
 * sorts its own AAD with localeCompare unless built with utf8Sorting: true; keys made of lowercase
 * ASCII letters, digits and '_' with no '_' against a digit at the first difference sort the same
 * both ways. Strings must not contain NUL bytes.
 *
 * Ownership: writers and readers are freed with their _free (which wipes keys). A header from
 * envelope_header_parse owns its strings: envelope_header_release. An EDK made by
 * envelope_raw_aes_wrap owns its buffers: envelope_edk_release. Everything else is borrowed.
 * Errors: 0 or a negative errno; -EBADMSG for a malformed, tampered or truncated message,
 * -EACCES for a key that does not open it; messages never contain key material.
 */
#ifndef ETCD_ANSIBLE_ENVELOPE_H
#define ETCD_ANSIBLE_ENVELOPE_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_SUITE_ID 0x0478
#define ENVELOPE_KEY_LEN 32
#define ENVELOPE_MESSAGE_ID_LEN 32
#define ENVELOPE_COMMITMENT_LEN 32
#define ENVELOPE_TAG_LEN 16
#define ENVELOPE_IV_LEN 12
#define ENVELOPE_FRAME_LEN_DEFAULT (64 * 1024)
/* The reader refuses a larger frame length: it buffers one frame. */
#define ENVELOPE_FRAME_LEN_MAX (16 * 1024 * 1024)
/* At most this many EDKs, on both sides (the ESDK's maxEncryptedDataKeys). */
#define ENVELOPE_MAX_EDKS 16
/* A header longer than this is refused before it is buffered (context <= 64 KiB + 16 EDKs). */
#define ENVELOPE_HEADER_MAX (256 * 1024)
/* Provider id of a KMS EDK; its provider info is the key ARN, its ciphertext the CiphertextBlob. */
#define ENVELOPE_PROVIDER_KMS "aws-kms"
/* zlib level for gzip (1: fast; a backup is written every few hours but read rarely). */
#define ENVELOPE_GZIP_LEVEL 1

/* Receives output; returns 0 or a negative errno (which stops the stream and is passed on). */
typedef int (*envelope_sink_fn)(void *ctx, const void *buf, size_t len, struct error *err);

/* Encryption context: n pairs of NUL-terminated UTF-8 strings, in any order, keys unique. */
struct envelope_context {
	const char *const *keys;
	const char *const *values;
	size_t n;
};

/* An encrypted data key. provider_id is NUL-terminated (no NUL inside); the others are bytes. */
struct envelope_edk {
	char *provider_id;
	uint8_t *provider_info;
	size_t info_len;
	uint8_t *ciphertext;
	size_t ct_len;
};

/*
 * A parsed message header. context holds the pairs in the order of the message (owned by the
 * header, NUL-terminated); edks likewise. Nothing in it is authenticated until the data key
 * verified the commitment and the auth tag (the reader does that before releasing any byte).
 */
struct envelope_header {
	uint16_t suite_id;
	uint8_t message_id[ENVELOPE_MESSAGE_ID_LEN];
	struct envelope_context context;
	struct envelope_edk *edks;
	size_t n_edks;
	uint32_t frame_len;
	uint8_t commitment[ENVELOPE_COMMITMENT_LEN];
	uint8_t auth_tag[ENVELOPE_TAG_LEN];
	size_t body_len; /* bytes of the header up to the auth tag (the tag's AAD) */
	size_t len;	 /* bytes of the whole header, auth tag included */
};

/* Counts and digest of a finished stream. */
struct envelope_stats {
	uint64_t plaintext_bytes; /* payload bytes (before gzip / after gunzip) */
	uint64_t body_bytes;	  /* bytes encrypted in frames (after gzip / before gunzip) */
	uint64_t message_bytes;	  /* bytes of the ESDK message */
	uint8_t plaintext_sha256[32];
};

/*
 * Parses a header from the first len bytes of a message (e.g. a ranged GET), without a key.
 * Returns 0 and fills *hdr and *consumed (= hdr->len), -EAGAIN when more bytes are needed (nothing
 * to release), -EBADMSG when it cannot be a message we read (other version or suite, unframed,
 * bad lengths, duplicate context keys, more than ENVELOPE_MAX_EDKS EDKs, header longer than
 * ENVELOPE_HEADER_MAX). On success the caller releases *hdr with envelope_header_release.
 */
int envelope_header_parse(const uint8_t *buf, size_t len, struct envelope_header *hdr,
			  size_t *consumed, struct error *err);
void envelope_header_release(struct envelope_header *hdr);
/* The value of key in the header's context, or NULL. Borrowed from hdr. */
const char *envelope_header_get(const struct envelope_header *hdr, const char *key);

/*
 * Writer. The header (with a fresh random message id) goes to the sink at the first write or at
 * finish; each frame goes out whole in one sink call as soon as the next byte shows it is not
 * the final one. data_key is copied (wiped on free); edks (1..ENVELOPE_MAX_EDKS) and ctx are
 * serialized at once and may be freed after new. frame_len 0 means ENVELOPE_FRAME_LEN_DEFAULT.
 */
struct envelope_writer;
struct envelope_writer *envelope_writer_new(const uint8_t data_key[ENVELOPE_KEY_LEN],
					    const struct envelope_edk *edks, size_t n_edks,
					    const struct envelope_context *ctx, uint32_t frame_len,
					    bool gzip, envelope_sink_fn sink, void *sink_ctx,
					    struct error *err);
int envelope_writer_write(struct envelope_writer *w, const void *buf, size_t len,
			  struct error *err);
/* Flushes gzip, writes the final frame. After a failure every call fails. */
int envelope_writer_finish(struct envelope_writer *w, struct error *err);
/* Before the first write: no SHA-256 of the plaintext (the caller has one); stats'
 * plaintext_sha256 stays zero. */
void envelope_writer_skip_hash(struct envelope_writer *w);
/* Before the first write: gzip on `workers` threads (pgzip.h: one gzip member, other bytes than
 * single-threaded zlib's, as valid). 0, or no gzip: nothing changes. */
int envelope_writer_set_deflate_workers(struct envelope_writer *w, unsigned workers,
					struct error *err);
/* Valid after a successful finish (counts so far otherwise; digest only after finish). */
void envelope_writer_stats(const struct envelope_writer *w, struct envelope_stats *stats);
void envelope_writer_free(struct envelope_writer *w);

/*
 * Called once the header is parsed: fill data_key_out (the plaintext data key) from hdr->edks,
 * or return a negative errno (-EACCES: no EDK opens with our keys). The reader then checks the
 * key commitment and the header auth tag; a wrong key fails there with -EACCES.
 */
typedef int (*envelope_key_fn)(void *ctx, const struct envelope_header *hdr,
			       uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err);

/*
 * Reader: push the message in chunks of any size; the plaintext (gunzipped when gunzip: one gzip
 * member, as the writer makes) goes to the sink frame by frame, each after its tag verified. Fails
 * on a sequence gap, a wrong IV, a final frame longer than the frame length, bytes after the final
 * frame, and (at finish) a message without its final frame or a gzip stream that did not end.
 */
struct envelope_reader;
struct envelope_reader *envelope_reader_new(envelope_key_fn key_fn, void *key_ctx, bool gunzip,
					    envelope_sink_fn sink, void *sink_ctx,
					    struct error *err);
int envelope_reader_write(struct envelope_reader *r, const void *buf, size_t len,
			  struct error *err);
int envelope_reader_finish(struct envelope_reader *r, struct error *err);
/* The parsed header once the reader got that far (and the key verified it), else NULL. */
const struct envelope_header *envelope_reader_header(const struct envelope_reader *r);
void envelope_reader_stats(const struct envelope_reader *r, struct envelope_stats *stats);
void envelope_reader_free(struct envelope_reader *r);

/*
 * Raw AES keyring, as @aws-crypto/raw-aes-keyring-node (AES256_GCM_IV12_TAG16_NO_PADDING):
 * provider id = key_namespace; provider info = key_name || u32 tag bits (128) || u32 IV length
 * (12) || IV; ciphertext = AES-256-GCM(wrapping key, data key, AAD = serialized context without
 * its length prefix) || tag. Wrap fills *edk (release with envelope_edk_release). Unwrap tries
 * each EDK of hdr with this namespace and name: -ENOKEY when none has them, -EACCES when none
 * opens.
 */
int envelope_raw_aes_wrap(const uint8_t wrapping_key[ENVELOPE_KEY_LEN], const char *key_namespace,
			  const char *key_name, const uint8_t data_key[ENVELOPE_KEY_LEN],
			  const struct envelope_context *ctx, struct envelope_edk *edk,
			  struct error *err);
int envelope_raw_aes_unwrap(const uint8_t wrapping_key[ENVELOPE_KEY_LEN], const char *key_namespace,
			    const char *key_name, const struct envelope_header *hdr,
			    uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err);
void envelope_edk_release(struct envelope_edk *edk);

/* A ready envelope_key_fn over envelope_raw_aes_unwrap: pass a struct envelope_raw_aes *. */
struct envelope_raw_aes {
	const uint8_t *wrapping_key; /* ENVELOPE_KEY_LEN bytes */
	const char *key_namespace;
	const char *key_name;
};
int envelope_raw_aes_key_fn(void *ctx, const struct envelope_header *hdr,
			    uint8_t data_key_out[ENVELOPE_KEY_LEN], struct error *err);

#endif
