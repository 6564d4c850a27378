/*
 * keys: private keys for step_cert (a node's own key, made where it is used) and step_ca (the
 * root and intermediate keys that step-ca decrypts with --password-file).
 *
 * - Types are those step's CLI offers (`--kty EC --curve P-256|P-384`, `--kty RSA --size N`,
 *   `--kty OKP --curve Ed25519`); EC P-256 is step's default.
 * - Files are PKCS#8 PEM, written atomically (fs_write_atomic: temp beside, final mode and owner
 *   before the first byte, rename). With a password the form is "ENCRYPTED PRIVATE KEY":
 *   PBES2, PBKDF2-HMAC-SHA256 with 100000 iterations and a 16-byte salt, AES-256-CBC; this is
 *   byte for byte the structure go.step.sm/crypto/pemutil.EncryptPKCS8PrivateKey writes and
 *   the one pemutil.DecryptPKCS8PrivateKey (called by pemutil.Parse, which step-ca's softkms
 *   CreateSigner reaches through pemutil.Read) decrypts.
 * - Reading also accepts what step's own Go code writes, so step_ca can adopt a CA made by
 *   `step ca init`: legacy "EC PRIVATE KEY" with Proc-Type/DEK-Info (x509.EncryptPEMBlock, step's
 *   default for EC keys), which OpenSSL's PEM layer decrypts; and pemutil's encrypted PKCS#8
 *   (Ed25519 keys), whose one encoding quirk keys.c works around (see key_from_go_pkcs8).
 *
 * Ownership: EVP_PKEY pointers returned here belong to the caller (EVP_PKEY_free). Passwords are
 * borrowed, never copied except into OpenSSL's own buffers, which it wipes; PEM text of a key is
 * kept in wiped memory only. Errors never contain a password.
 */
#ifndef ETCD_ANSIBLE_KEYS_H
#define ETCD_ANSIBLE_KEYS_H

#include "error.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <sys/types.h>

enum key_type { KEY_EC_P256, KEY_EC_P384, KEY_RSA, KEY_ED25519 };

#define KEY_RSA_DEFAULT_BITS 2048
#define KEY_RSA_MIN_BITS 2048
#define KEY_RSA_MAX_BITS 8192

/* OpenSSL's PEM password callback gets a PEM_BUFSIZE (1024) buffer: longer passwords could be
 * written but never read back, so both directions refuse them. */
#define KEY_PASSWORD_MAX 1024

/*
 * Parses a key type name, case-insensitively: "EC" and "EC-P256" (also "P-256", "P256"),
 * "EC-P384" ("P-384", "P384"), "RSA" (2048 bits) or "RSA-<bits>" (2048..8192), "Ed25519"
 * ("OKP", step's name for the key type). *rsa_bits is set for RSA, 0 otherwise.
 */
int key_type_parse(const char *name, enum key_type *type, int *rsa_bits, struct error *err);

/* A new key of that type (rsa_bits only for KEY_RSA); caller frees with EVP_PKEY_free. */
EVP_PKEY *key_generate(enum key_type type, int rsa_bits, struct error *err);

/*
 * Writes key to path as PKCS#8 PEM, atomically, the file having mode and owner (FS_KEEP_OWNER /
 * FS_KEEP_GROUP to keep the caller's) from its first byte. password NULL → plain "PRIVATE KEY";
 * otherwise "ENCRYPTED PRIVATE KEY" as described above. An empty password, or one longer than
 * KEY_PASSWORD_MAX bytes, is refused.
 */
int key_write_pem(const char *path, EVP_PKEY *key, const char *password, mode_t mode, uid_t uid,
		  gid_t gid, struct error *err);

/*
 * Reads the first private key in path. An encrypted key needs password; a missing or wrong
 * password fails with -EACCES. Caller frees the key with EVP_PKEY_free.
 */
EVP_PKEY *key_read_pem(const char *path, const char *password, struct error *err);

/* "EC-P256", "EC-P384", "RSA-2048" (3072, 4096, 8192; other sizes "RSA"), "Ed25519", or "unknown".
 * The string is static. */
const char *key_type_name(const EVP_PKEY *key);

/* true if key is of that type (and, for RSA, that many bits). */
bool key_is_type(const EVP_PKEY *key, enum key_type type, int rsa_bits);

/* true if key is the private half of the certificate's public key. */
bool key_matches_cert(const EVP_PKEY *key, X509 *cert);

/* The digest to sign with that key as Go's crypto/x509 does: SHA-384 for P-384, none for Ed25519,
 * SHA-256 otherwise. NULL is a valid answer (Ed25519), so failure is not reported here. */
const EVP_MD *key_signature_digest(const EVP_PKEY *key);

#endif
