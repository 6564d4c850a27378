#include "keys.h"

#include "fs.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The encrypted form of go.step.sm/crypto/pemutil/pkcs8.go EncryptPKCS8PrivateKey:
 * PBKDF2SaltSize = 16, PBKDF2Iterations = 100000, prf hmacWithSHA256, DefaultEncCipher =
 * x509.PEMCipherAES256 (pemutil/pem.go). DecryptPKCS8PrivateKey reads salt, iterations, prf and
 * cipher from the file, so these are what step writes rather than what it needs.
 */
#define PBKDF2_ITERATIONS 100000
#define PBKDF2_SALT_LEN 16

/* A key file is a few KiB at most (RSA-8192 is ~6.5 KiB of PEM). */
#define KEY_FILE_MAX (64u * 1024u)

/* ---- key types ---- */

/* name is "RSA-<bits>" */
static int parse_rsa_bits(const char *name, int *rsa_bits, struct error *err)
{
	const char *digits = name + 4;
	char *end;
	long bits;

	errno = 0;
	bits = strtol(digits, &end, 10);
	if (errno || end == digits || *end || bits < KEY_RSA_MIN_BITS || bits > KEY_RSA_MAX_BITS)
		return error_set(err, -EINVAL, "key type '%s': RSA keys are of %d..%d bits", name,
				 KEY_RSA_MIN_BITS, KEY_RSA_MAX_BITS);
	*rsa_bits = (int)bits;
	return 0;
}

int key_type_parse(const char *name, enum key_type *type, int *rsa_bits, struct error *err)
{
	static const struct {
		const char *name;
		enum key_type type;
	} names[] = {
	    {"EC", KEY_EC_P256},   {"EC-P256", KEY_EC_P256}, {"P-256", KEY_EC_P256},
	    {"P256", KEY_EC_P256}, {"EC-P384", KEY_EC_P384}, {"P-384", KEY_EC_P384},
	    {"P384", KEY_EC_P384}, {"Ed25519", KEY_ED25519}, {"OKP", KEY_ED25519},
	    {"RSA", KEY_RSA},
	};

	*rsa_bits = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcasecmp(name, names[i].name) == 0) {
			*type = names[i].type;
			if (*type == KEY_RSA)
				*rsa_bits = KEY_RSA_DEFAULT_BITS;
			return 0;
		}
	}
	if (strncasecmp(name, "RSA-", 4) == 0) {
		*type = KEY_RSA;
		return parse_rsa_bits(name, rsa_bits, err);
	}
	return error_set(
	    err, -EINVAL,
	    "unknown key type '%s': use EC (EC-P256), EC-P384, RSA, RSA-<bits> or Ed25519", name);
}

/* The NID of an EC key's curve, NID_undef for other keys. */
static int key_curve_nid(const EVP_PKEY *key)
{
	char group[64];
	int nid;

	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
	    EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1)
		return NID_undef;
	nid = OBJ_sn2nid(group);
	return nid != NID_undef ? nid : EC_curve_nist2nid(group);
}

const char *key_type_name(const EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		switch (key_curve_nid(key)) {
		case NID_X9_62_prime256v1:
			return "EC-P256";
		case NID_secp384r1:
			return "EC-P384";
		default:
			return "EC";
		}
	case EVP_PKEY_RSA:
		switch (EVP_PKEY_get_bits(key)) {
		case 2048:
			return "RSA-2048";
		case 3072:
			return "RSA-3072";
		case 4096:
			return "RSA-4096";
		case 8192:
			return "RSA-8192";
		default:
			return "RSA";
		}
	case EVP_PKEY_ED25519:
		return "Ed25519";
	default:
		return "unknown";
	}
}

bool key_is_type(const EVP_PKEY *key, enum key_type type, int rsa_bits)
{
	switch (type) {
	case KEY_EC_P256:
		return key_curve_nid(key) == NID_X9_62_prime256v1;
	case KEY_EC_P384:
		return key_curve_nid(key) == NID_secp384r1;
	case KEY_RSA:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA &&
		       EVP_PKEY_get_bits(key) == rsa_bits;
	case KEY_ED25519:
		return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519;
	}
	return false;
}

bool key_matches_cert(const EVP_PKEY *key, X509 *cert)
{
	const EVP_PKEY *pub = X509_get0_pubkey(cert);
	bool same = pub && EVP_PKEY_eq(pub, key) == 1;

	ERR_clear_error();
	return same;
}

/* Go crypto/x509 signingParamsForPublicKey: RSA and P-256 → SHA-256, P-384 → SHA-384,
 * Ed25519 → none (the algorithm hashes itself). */
const EVP_MD *key_signature_digest(const EVP_PKEY *key)
{
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519)
		return NULL;
	if (key_curve_nid(key) == NID_secp384r1)
		return EVP_sha384();
	return EVP_sha256();
}

/* ---- generation ---- */

EVP_PKEY *key_generate(enum key_type type, int rsa_bits, struct error *err)
{
	EVP_PKEY *key = NULL;

	switch (type) {
	case KEY_EC_P256:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case KEY_EC_P384:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
		break;
	case KEY_RSA:
		if (rsa_bits < KEY_RSA_MIN_BITS || rsa_bits > KEY_RSA_MAX_BITS) {
			error_set(err, -EINVAL, "RSA key size must be %d..%d bits, got %d",
				  KEY_RSA_MIN_BITS, KEY_RSA_MAX_BITS, rsa_bits);
			return NULL;
		}
		key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)rsa_bits);
		break;
	case KEY_ED25519:
		key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
		break;
	}
	if (!key)
		error_set(err, -EIO, "cannot generate a key: %s",
			  ERR_reason_error_string(ERR_get_error()));
	ERR_clear_error();
	return key;
}

/* ---- writing ---- */

/* PKCS#8 encrypted as pemutil.EncryptPKCS8PrivateKey does (see PBKDF2_ITERATIONS above). */
static int pem_encode_encrypted(BIO *out, EVP_PKEY *key, const char *password)
{
	PKCS8_PRIV_KEY_INFO *plain = NULL;
	X509_ALGOR *pbe = NULL;
	X509_SIG *encrypted = NULL;
	int rc = -EIO;

	plain = EVP_PKEY2PKCS8(key);
	if (!plain)
		goto out;
	pbe = PKCS5_pbe2_set_iv_ex(EVP_aes_256_cbc(), PBKDF2_ITERATIONS, NULL, PBKDF2_SALT_LEN,
				   NULL, NID_hmacWithSHA256, NULL);
	if (!pbe)
		goto out;
	encrypted = PKCS8_set0_pbe_ex(password, (int)strlen(password), plain, pbe, NULL, NULL);
	if (!encrypted)
		goto out;
	pbe = NULL; /* owned by encrypted now */
	if (PEM_write_bio_PKCS8(out, encrypted) == 1)
		rc = 0;
out:
	X509_SIG_free(encrypted);
	X509_ALGOR_free(pbe);
	PKCS8_PRIV_KEY_INFO_free(plain); /* its ASN.1 free callback wipes the key bytes */
	return rc;
}

static int pem_encode_key(BIO *out, EVP_PKEY *key, const char *password)
{
	if (password)
		return pem_encode_encrypted(out, key, password);
	return PEM_write_bio_PKCS8PrivateKey(out, key, NULL, NULL, 0, NULL, NULL) == 1 ? 0 : -EIO;
}

int key_write_pem(const char *path, EVP_PKEY *key, const char *password, mode_t mode, uid_t uid,
		  gid_t gid, struct error *err)
{
	/* A secure-memory BIO wipes its buffer when freed: a plain key's PEM never lingers. */
	BIO *out = BIO_new(BIO_s_secmem());
	char *pem;
	long len;
	int rc;

	if (password && !*password)
		rc = error_set(err, -EINVAL, "%s: the key password is empty", path);
	else if (password && strlen(password) > KEY_PASSWORD_MAX)
		rc = error_set(err, -EINVAL, "%s: the key password is longer than %d bytes", path,
			       KEY_PASSWORD_MAX);
	else if (!out)
		rc = error_set(err, -ENOMEM, "%s: out of memory", path);
	else if (pem_encode_key(out, key, password) < 0)
		rc = error_set(err, -EIO, "%s: cannot encode the key: %s", path,
			       ERR_reason_error_string(ERR_get_error()));
	else if ((len = BIO_get_mem_data(out, &pem)) <= 0)
		rc = error_set(err, -EIO, "%s: the encoded key is empty", path);
	else
		rc = fs_write_atomic(path, pem, (size_t)len, mode, uid, gid, err);
	ERR_clear_error();
	BIO_free(out);
	return rc;
}

/* ---- reading ---- */

struct password_arg {
	const char *password;
	bool asked;    /* OpenSSL asked: the PEM is encrypted */
	bool too_long; /* the password does not fit OpenSSL's buffer */
};

/* pem_password_cb: hands over the password, never prompts on a terminal (OpenSSL's default). */
static int password_cb(char *buf, int size, int rwflag, void *u)
{
	struct password_arg *arg = u;
	size_t len;

	(void)rwflag;
	arg->asked = true;
	if (!arg->password)
		return -1;
	len = strlen(arg->password);
	if (size < 0 || len > (size_t)size) {
		arg->too_long = true;
		return -1;
	}
	memcpy(buf, arg->password, len);
	return (int)len;
}

/*
 * go.step.sm/crypto/pemutil/pkcs8.go encodes the PBKDF2 prf AlgorithmIdentifier with its
 * `NullParam asn1.RawValue` left zero, which Go's asn1 marshals as 00 00 (an EOC) instead of
 * NULL (05 00). OpenSSL 3 refuses it ("unexpected eoc", Field=prf, Type=PBKDF2PARAM), so keys
 * step writes as encrypted PKCS#8 (Ed25519 always; EC/RSA with --pkcs8) do not load as they are.
 * The two bytes are rewritten to NULL (same length: no DER length changes) and decrypted again.
 */
static const unsigned char go_prf_sha256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0x86,
					      0xf7, 0x0d, 0x02, 0x09, 0x00, 0x00};

static EVP_PKEY *key_from_go_pkcs8(const char *text, size_t len, const char *password)
{
	BIO *in = BIO_new_mem_buf(text, (int)len); /* len <= KEY_FILE_MAX */
	char *name = NULL, *header = NULL;
	unsigned char *der = NULL, *prf;
	const unsigned char *cursor;
	long der_len = 0;
	X509_SIG *encrypted = NULL;
	PKCS8_PRIV_KEY_INFO *plain = NULL;
	EVP_PKEY *key = NULL;

	if (!in || PEM_read_bio(in, &name, &header, &der, &der_len) != 1 ||
	    strcmp(name, PEM_STRING_PKCS8) != 0)
		goto out;
	prf = memmem(der, (size_t)der_len, go_prf_sha256, sizeof(go_prf_sha256));
	if (!prf)
		goto out;
	prf[sizeof(go_prf_sha256) - 2] = V_ASN1_NULL;
	cursor = der;
	encrypted = d2i_X509_SIG(NULL, &cursor, der_len);
	if (encrypted)
		plain = PKCS8_decrypt_ex(encrypted, password, (int)strlen(password), NULL, NULL);
	if (plain)
		key = EVP_PKCS82PKEY(plain);
out:
	PKCS8_PRIV_KEY_INFO_free(plain);
	X509_SIG_free(encrypted);
	OPENSSL_free(der);
	OPENSSL_free(header);
	OPENSSL_free(name);
	BIO_free(in);
	return key;
}

static EVP_PKEY *key_from_pem(const char *path, const char *text, size_t len, const char *password,
			      struct error *err)
{
	struct password_arg arg = {.password = password};
	BIO *in = BIO_new_mem_buf(text, (int)len); /* len <= KEY_FILE_MAX */
	EVP_PKEY *key = NULL;

	if (!in) {
		error_set(err, -ENOMEM, "%s: out of memory", path);
		goto out;
	}
	key = PEM_read_bio_PrivateKey_ex(in, NULL, password_cb, &arg, NULL, NULL);
	if (!key && arg.asked && password && !arg.too_long)
		key = key_from_go_pkcs8(text, len, password);
	if (key)
		goto out;
	if (arg.asked && !password)
		error_set(err, -EACCES, "%s: the key is encrypted and no password was given", path);
	else if (arg.too_long)
		error_set(err, -EINVAL, "%s: the password is longer than %d bytes", path,
			  KEY_PASSWORD_MAX);
	else if (arg.asked)
		error_set(err, -EACCES, "%s: cannot decrypt the key: wrong password", path);
	else
		error_set(err, -EINVAL, "%s: no private key in PEM form", path);
out:
	ERR_clear_error();
	BIO_free(in);
	return key;
}

EVP_PKEY *key_read_pem(const char *path, const char *password, struct error *err)
{
	EVP_PKEY *key = NULL;
	char *text = NULL;
	size_t len = 0;

	if (fs_read_file(path, KEY_FILE_MAX, &text, &len, err) < 0)
		return NULL;
	key = key_from_pem(path, text, len, password, err);
	OPENSSL_cleanse(text, len);
	free(text);
	return key;
}
