/*
 * jose: the parts of JOSE that step-ca's JWK provisioner needs, byte-compatible with what
 * step-ca 0.19 and the step CLI produce and accept (go.step.sm/crypto/jose over
 * gopkg.in/square/go-jose.v2).
 *
 * - JWE (RFC 7516) compact serialization with password-based key wrapping (RFC 7518 §4.8,
 *   PBES2-HS*+A*KW): the provisioner's "encryptedKey" in ca.json. Decryption accepts the three
 *   PBES2 algorithms and A128GCM/A192GCM/A256GCM and A128CBC-HS256/A192CBC-HS384/A256CBC-HS512;
 *   encryption writes exactly what go.step.sm/crypto/jose.EncryptJWK writes.
 * - JWK (RFC 7517/7518 §6) ↔ EVP_PKEY for EC P-256/P-384/P-521 and OKP Ed25519, public and
 *   private; JWK thumbprints (RFC 7638, SHA-256), which step uses as the provisioner "kid".
 * - JWS (RFC 7515) compact ES256 (RFC 7518 §3.4: raw R||S signature, 64 bytes): the one-time
 *   token a JWK provisioner signs for POST /1.0/sign.
 *
 * Ownership: strings and json_t returned here belong to the caller (free / json_decref);
 * EVP_PKEY results are freed with EVP_PKEY_free. Decrypted plaintext is a secret: release it
 * with jose_secret_free(), which wipes it. Inputs are borrowed. Errors are 0 / negative errno
 * with a message in err that never contains a password or key material.
 */
#ifndef ETCD_ANSIBLE_JOSE_H
#define ETCD_ANSIBLE_JOSE_H

#include "error.h"

#include <jansson.h>
#include <openssl/evp.h>

#include <stdbool.h>
#include <stddef.h>

/*
 * PBES2 iteration count ("p2c") written by jose_jwe_encrypt_pbes2: go.step.sm/crypto
 * jose/types.go PBKDF2Iterations = 100000, used by jose/encrypt.go Encrypt (read in v0.24.0,
 * Debian's, and in an earlier release; step-ca 0.19's go.mod requires v0.16.1). Decryption reads
 * p2c from the header and accepts [JOSE_PBES2_COUNT_MIN, JOSE_PBES2_COUNT_MAX]: the upper bound
 * keeps a hostile header from buying minutes of CPU; later step releases write 600000.
 */
#define JOSE_PBES2_COUNT 100000
#define JOSE_PBES2_COUNT_MIN 1000
#define JOSE_PBES2_COUNT_MAX 10000000
/* Compact JWE/JWS inputs longer than this are refused before any decoding. */
#define JOSE_COMPACT_MAX (1024 * 1024)

/* The message of every failure caused by a wrong password (or a modified encrypted key). */
#define JOSE_WRONG_PASSWORD "wrong password or corrupted key"

/*
 * Decrypts a compact JWE whose alg is PBES2-HS256+A128KW, PBES2-HS384+A192KW or
 * PBES2-HS512+A256KW. *plain (caller releases with jose_secret_free) holds *plain_len bytes plus a
 * NUL. A wrong password fails with -EACCES and JOSE_WRONG_PASSWORD; a modified ciphertext, tag,
 * IV or header with -EBADMSG.
 */
int jose_jwe_decrypt_pbes2(const char *compact, const char *password, unsigned char **plain,
			   size_t *plain_len, struct error *err);

/*
 * Encrypts as step does for a provisioner's encryptedKey: protected header
 * {"alg":"PBES2-HS256+A128KW","cty":cty,"enc":"A256GCM","p2c":100000,"p2s":<16 random bytes>}
 * (keys sorted, as go-jose serializes its header map; "cty" left out when cty is NULL), a random
 * 32-byte CEK wrapped with AES-KW, a 12-byte random IV. *compact: caller frees.
 */
int jose_jwe_encrypt_pbes2(const unsigned char *plain, size_t len, const char *password,
			   const char *cty, char **compact, struct error *err);

/* Wipes and frees a secret buffer of len bytes (as returned by the decryption above). */
void jose_secret_free(void *secret, size_t len);

/*
 * AES key wrap (RFC 3394 §2.2, default IV A6A6A6A6A6A6A6A6) with a 16, 24 or 32-byte KEK.
 * key_len is a multiple of 8, at least 16; out has room for key_len + 8 bytes. Unwrap writes
 * wrapped_len - 8 bytes and fails with -EACCES when the integrity check fails.
 */
int jose_aes_key_wrap(const unsigned char *kek, size_t kek_len, const unsigned char *key,
		      size_t key_len, unsigned char *out, struct error *err);
int jose_aes_key_unwrap(const unsigned char *kek, size_t kek_len, const unsigned char *wrapped,
			size_t wrapped_len, unsigned char *out, struct error *err);

/*
 * A key from a JWK: kty "EC" (crv P-256, P-384, P-521; x, y and, for a private key, d) or
 * kty "OKP" (crv Ed25519; x and optionally d). Coordinates must have their full length
 * (RFC 7518 §6.2.1.2); the point must be on the curve and d must match it.
 */
EVP_PKEY *jose_jwk_to_pkey(const json_t *jwk, struct error *err);

/*
 * The JWK of key, members in the order go-jose writes them (jwk.go rawJSONWebKey: use, kty, kid,
 * crv, alg, x, y, d); kid, use and alg are left out when NULL; d only with include_private.
 * Coordinates and d are left-padded to the curve size. Caller json_decref()s. jansson does not
 * wipe what it frees: keep a JWK with d short-lived, and wipe its serialization
 * (jose_secret_free) rather than free it.
 */
json_t *jose_pkey_to_jwk(const EVP_PKEY *key, bool include_private, const char *kid,
			 const char *use, const char *alg, struct error *err);

/*
 * RFC 7638 thumbprint: base64url(SHA-256(required members, sorted, no whitespace)) of an EC, OKP
 * or RSA JWK; private members are ignored. This is the "kid" step gives a provisioner key
 * (go.step.sm/crypto jose/generate.go Thumbprint). Caller frees.
 */
char *jose_jwk_thumbprint(const json_t *jwk, struct error *err);

/*
 * Signs a compact JWS with an EC P-256 private key: header must have "alg":"ES256"; header and
 * claims are serialized compactly with their members in the order given. *compact: caller frees.
 */
int jose_jws_sign_es256(EVP_PKEY *key, const json_t *header, const json_t *claims, char **compact,
			struct error *err);

/*
 * Verifies the ES256 signature of a compact JWS with pub (alg must be "ES256", the signature
 * 64 bytes) and returns its payload as a JSON object in *claims_out (caller json_decref()s).
 * Claims (exp, nbf, aud...) are not checked: that is the verifier's policy, step-ca's here.
 * A bad signature fails with -EBADMSG.
 */
int jose_jws_verify_es256(const char *compact, EVP_PKEY *pub, json_t **claims_out,
			  struct error *err);

/*
 * A token id as step's ca/provisioner.go Token makes it: randutil.Hex(64), 64 lowercase hex
 * characters (256 random bits). Caller frees; NULL if the random generator fails.
 */
char *jose_random_jti(void);

#endif
