/*
 * cmocka tests of module_utils/keys and module_utils/x509: keys of every type on disk with exact
 * modes, the encrypted form step-ca decrypts, CSRs typed like step types SANs, a CA made like
 * `step ca init`, a leaf signed here as step-ca would, chain verification, inspection.
 *
 * Vectors from outside (tests/unit/vectors/x509/, see README.md there): keys written by step's
 * own Go code (pemutil.Serialize) and a certificate whose fingerprint the openssl CLI computed.
 * With X509_VECTORS_OUT=DIR only test_write_vectors_for_gocheck runs: it leaves a CA, keys and a
 * CSR in DIR for gocheck (run by hand, see the README).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "fs.h"
#include "keys.h"
#include "x509.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define VECTORS "tests/unit/vectors/x509/"
/* The password of the step-written vectors: test data, not a secret (gocheck/main.go). */
#define STEP_VECTOR_PASSWORD "step-vector-password"
#define PASSWORD "correct horse battery staple"

static char *path_in(const char *base, const char *name)
{
	static char buf[4][512];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", base, name);
	return p;
}

static char *path_in_dir(const char *name)
{
	return path_in(dir, name);
}

static char *read_text(const char *path)
{
	struct error err;
	char *text = NULL;
	size_t len;

	if (fs_read_file(path, 1u << 20, &text, &len, &err) < 0)
		fail_msg("%s", err.msg);
	return text;
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static const struct key_case {
	enum key_type type;
	int bits;
	const char *name;
} key_cases[] = {
    {KEY_EC_P256, 0, "EC-P256"},
    {KEY_EC_P384, 0, "EC-P384"},
    {KEY_RSA, 2048, "RSA-2048"},
    {KEY_ED25519, 0, "Ed25519"},
};

static EVP_PKEY *new_key(enum key_type type, int bits)
{
	struct error err;
	EVP_PKEY *key = key_generate(type, bits, &err);

	if (!key)
		fail_msg("key_generate: %s", err.msg);
	return key;
}

/* ---- key types ---- */

static void test_key_type_parse(void **state)
{
	static const struct {
		const char *name;
		enum key_type type;
		int bits;
	} good[] = {
	    {"EC", KEY_EC_P256, 0},	 {"ec-p256", KEY_EC_P256, 0}, {"P-256", KEY_EC_P256, 0},
	    {"EC-P384", KEY_EC_P384, 0}, {"p384", KEY_EC_P384, 0},    {"RSA", KEY_RSA, 2048},
	    {"rsa-4096", KEY_RSA, 4096}, {"Ed25519", KEY_ED25519, 0}, {"OKP", KEY_ED25519, 0},
	};
	static const char *const bad[] = {"DSA", "RSA-1024", "RSA-", "RSA-2048x", "EC-P521", ""};
	struct error err;
	enum key_type type;
	int bits;
	(void)state;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(key_type_parse(good[i].name, &type, &bits, &err), 0);
		assert_int_equal(type, good[i].type);
		assert_int_equal(bits, good[i].bits);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(key_type_parse(bad[i], &type, &bits, &err), -EINVAL);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	assert_null(key_generate(KEY_RSA, 1024, &err));
	assert_non_null(strstr(err.msg, "2048"));
}

/* ---- keys on disk ---- */

static void test_keys_write_plain_with_exact_mode_and_read_back(void **state)
{
	mode_t old_umask = umask(0);
	(void)state;

	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		EVP_PKEY *key = new_key(c->type, c->bits), *back;
		const char *p = path_in_dir(c->name);
		struct error err;
		char *text;

		assert_string_equal(key_type_name(key), c->name);
		assert_true(key_is_type(key, c->type, c->bits));
		/* umask 0 would leave a plain open() at whatever mode it asked: still exactly 0400.
		 */
		if (key_write_pem(p, key, NULL, 0400, FS_KEEP_OWNER, FS_KEEP_GROUP, &err) < 0)
			fail_msg("%s: %s", c->name, err.msg);
		assert_int_equal(file_mode(p), 0400);
		text = read_text(p);
		assert_true(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
		free(text);
		back = key_read_pem(p, NULL, &err);
		if (!back)
			fail_msg("%s: %s", c->name, err.msg);
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		/* a password given for a plain key is not needed, and not an error */
		EVP_PKEY_free(back);
		back = key_read_pem(p, PASSWORD, &err);
		assert_non_null(back);
		EVP_PKEY_free(back);
		EVP_PKEY_free(key);
	}
	umask(077);
	{
		EVP_PKEY *key = new_key(KEY_EC_P256, 0);
		struct error err;

		assert_int_equal(key_write_pem(path_in_dir("wide"), key, NULL, 0640, FS_KEEP_OWNER,
					       FS_KEEP_GROUP, &err),
				 0);
		assert_int_equal(file_mode(path_in_dir("wide")), 0640);
		EVP_PKEY_free(key);
	}
	umask(old_umask);
}

/* The PBES2 parameters of an "ENCRYPTED PRIVATE KEY" file, checked against what pemutil writes
 * (go.step.sm/crypto/pemutil/pkcs8.go EncryptPKCS8PrivateKey) and what its asn1 structs can hold:
 * pbkdf2Params has no keyLength field, so it must be absent. */
static void assert_step_pbes2(const char *path)
{
	BIO *in = BIO_new_file(path, "r");
	X509_SIG *sig = in ? PEM_read_bio_PKCS8(in, NULL, NULL, NULL) : NULL;
	const X509_ALGOR *alg = NULL;
	const ASN1_OBJECT *oid;
	const void *param;
	int ptype;
	PBE2PARAM *pbe2;
	PBKDF2PARAM *kdf;

	assert_non_null(sig);
	X509_SIG_get0(sig, &alg, NULL);
	X509_ALGOR_get0(&oid, &ptype, &param, alg);
	assert_int_equal(OBJ_obj2nid(oid), NID_pbes2);
	pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
	assert_non_null(pbe2);
	assert_int_equal(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
	assert_int_equal(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
	kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter);
	assert_non_null(kdf);
	assert_int_equal(kdf->salt->type, V_ASN1_OCTET_STRING);
	assert_int_equal(kdf->salt->value.octet_string->length, 16);
	assert_int_equal(ASN1_INTEGER_get(kdf->iter), 100000);
	assert_null(kdf->keylength);
	assert_non_null(kdf->prf);
	assert_int_equal(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
	X509_SIG_free(sig);
	BIO_free(in);
}

static void test_keys_encrypted_roundtrip_and_wrong_password(void **state)
{
	(void)state;

	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		const struct key_case *c = &key_cases[i];
		EVP_PKEY *key = new_key(c->type, c->bits), *back;
		const char *p = path_in_dir(c->name);
		struct error err;
		char *text;

		if (key_write_pem(p, key, PASSWORD, 0400, FS_KEEP_OWNER, FS_KEEP_GROUP, &err) < 0)
			fail_msg("%s: %s", c->name, err.msg);
		assert_int_equal(file_mode(p), 0400);
		text = read_text(p);
		assert_true(strncmp(text, "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 38) == 0);
		free(text);
		assert_step_pbes2(p);

		back = key_read_pem(p, PASSWORD, &err);
		if (!back)
			fail_msg("%s: %s", c->name, err.msg);
		assert_int_equal(EVP_PKEY_eq(key, back), 1);
		EVP_PKEY_free(back);

		assert_null(key_read_pem(p, "Correct horse battery staple", &err));
		assert_non_null(strstr(err.msg, "wrong password"));
		assert_null(strstr(err.msg, "orse"));
		assert_null(key_read_pem(p, NULL, &err));
		assert_non_null(strstr(err.msg, "no password"));
		EVP_PKEY_free(key);
	}
}

static void test_key_write_refuses_bad_passwords_and_paths(void **state)
{
	EVP_PKEY *key = new_key(KEY_EC_P256, 0), *back;
	struct error err;
	(void)state;

	assert_int_equal(
	    key_write_pem(path_in_dir("k"), key, "", 0400, FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
	    -EINVAL);
	assert_false(fs_exists(path_in_dir("k")));
	{
		char long_password[KEY_PASSWORD_MAX + 2];

		memset(long_password, 'p', sizeof(long_password) - 1);
		long_password[sizeof(long_password) - 1] = '\0';
		assert_int_equal(key_write_pem(path_in_dir("k"), key, long_password, 0400,
					       FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
				 -EINVAL);
		long_password[KEY_PASSWORD_MAX] = '\0'; /* the longest accepted */
		assert_int_equal(key_write_pem(path_in_dir("k"), key, long_password, 0400,
					       FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
				 0);
		back = key_read_pem(path_in_dir("k"), long_password, &err);
		assert_non_null(back);
		EVP_PKEY_free(back);
	}
	assert_int_equal(key_write_pem("/nonexistent/dir/k", key, NULL, 0400, FS_KEEP_OWNER,
				       FS_KEEP_GROUP, &err),
			 -ENOENT);
	assert_null(key_read_pem(path_in_dir("missing"), NULL, &err));
	assert_null(key_read_pem(VECTORS "openssl-root.pem", NULL, &err));
	assert_non_null(strstr(err.msg, "no private key"));
	EVP_PKEY_free(key);
}

/* Keys written by step's Go code: what `step ca init` leaves (legacy Proc-Type EC, PKCS#8
 * Ed25519) must be readable, so step_ca can adopt an existing CA. */
static void test_key_read_step_written_vectors(void **state)
{
	static const char *const names[] = {"step-ec-legacy", "step-ec-pkcs8",
					    "step-ed25519-pkcs8"};
	(void)state;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char key_path[256], pub_path[256];
		struct error err;
		EVP_PKEY *key, *pub;
		BIO *in;

		snprintf(key_path, sizeof(key_path), VECTORS "%s.key", names[i]);
		snprintf(pub_path, sizeof(pub_path), VECTORS "%s.pub", names[i]);
		key = key_read_pem(key_path, STEP_VECTOR_PASSWORD, &err);
		if (!key)
			fail_msg("%s: %s", names[i], err.msg);
		in = BIO_new_file(pub_path, "r");
		pub = PEM_read_bio_PUBKEY(in, NULL, NULL, NULL);
		assert_non_null(pub);
		assert_int_equal(EVP_PKEY_eq(key, pub), 1);
		assert_null(key_read_pem(key_path, "wrong", &err));
		assert_int_equal(strstr(err.msg, "wrong password") != NULL, 1);
		EVP_PKEY_free(pub);
		BIO_free(in);
		EVP_PKEY_free(key);
	}
}

/* ---- CSR ---- */

/* Expected types as go.step.sm/crypto/x509util.SplitSANs gives them (checked once with a Go
 * program over these exact strings): step-ca types the token's SANs that way. */
static void test_san_types_follow_step_split_sans(void **state)
{
	static const struct {
		const char *text;
		enum san_type type;
	} cases[] = {
	    {"10.0.0.1", SAN_IP},
	    {"::1", SAN_IP},
	    {"::ffff:10.0.0.1", SAN_IP},
	    {"010.0.0.1", SAN_DNS},    /* net.ParseIP refuses leading zeros */
	    {"fe80::1%eth0", SAN_URI}, /* no zones in net.ParseIP; "fe80:" parses as a scheme */
	    {"spiffe://cluster/etcd", SAN_URI},
	    {"urn:uuid:1234", SAN_URI},
	    {"mailto:a@b", SAN_URI},
	    {"localhost:8080", SAN_URI}, /* url.Parse: scheme "localhost" */
	    {"1host:80", SAN_DNS},	 /* a scheme starts with a letter */
	    {"admin@example.com", SAN_EMAIL},
	    {"user@host:22", SAN_EMAIL},
	    {"etcd-1.example.com", SAN_DNS},
	    {"*.example.com", SAN_DNS},
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (x509_san_type_of(cases[i].text) != cases[i].type)
			fail_msg("%s: got %s, want %s", cases[i].text,
				 x509_san_type_name(x509_san_type_of(cases[i].text)),
				 x509_san_type_name(cases[i].type));
	}
}

static const char *const leaf_sans[] = {
    "etcd-1.example.com",    "10.0.0.1",	  "::1",
    "spiffe://cluster/etcd", "admin@example.com", "localhost",
};
#define N_LEAF_SANS (sizeof(leaf_sans) / sizeof(leaf_sans[0]))

static X509_REQ *csr_from_pem(const char *pem)
{
	BIO *in = BIO_new_mem_buf(pem, -1);
	X509_REQ *csr = PEM_read_bio_X509_REQ(in, NULL, NULL, NULL);

	BIO_free(in);
	assert_non_null(csr);
	return csr;
}

static void test_csr_carries_typed_sans(void **state)
{
	static const struct {
		int gen_type;
		const char *text;
	} want[] = {
	    {GEN_DNS, "etcd-1.example.com"},
	    {GEN_IPADD, "10.0.0.1"},
	    {GEN_IPADD, "::1"},
	    {GEN_URI, "spiffe://cluster/etcd"},
	    {GEN_EMAIL, "admin@example.com"},
	    {GEN_DNS, "localhost"},
	};
	EVP_PKEY *key = new_key(KEY_EC_P256, 0);
	struct error err;
	X509_REQ *csr = x509_csr_new(key, "etcd-1", leaf_sans, N_LEAF_SANS, &err), *back;
	STACK_OF(X509_EXTENSION) * extensions;
	GENERAL_NAMES *names;
	int critical = -1;
	char *pem;
	(void)state;

	if (!csr)
		fail_msg("%s", err.msg);
	pem = x509_csr_pem(csr);
	assert_non_null(pem);
	assert_true(strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);
	back = csr_from_pem(pem);
	assert_int_equal(X509_REQ_verify(back, key), 1);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(back)), 1);
	extensions = X509_REQ_get_extensions(back);
	names = X509V3_get_d2i(extensions, NID_subject_alt_name, &critical, NULL);
	assert_non_null(names);
	assert_int_equal(critical, 0);
	assert_int_equal(sk_GENERAL_NAME_num(names), N_LEAF_SANS);
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
		int type;
		ASN1_STRING *value = GENERAL_NAME_get0_value(name, &type);

		assert_int_equal(type, want[i].gen_type);
		if (type == GEN_IPADD) {
			ASN1_OCTET_STRING *ip = a2i_IPADDRESS(want[i].text);

			assert_int_equal(ASN1_STRING_cmp(value, ip), 0);
			ASN1_OCTET_STRING_free(ip);
		} else {
			assert_int_equal(ASN1_STRING_length(value), (int)strlen(want[i].text));
			assert_memory_equal(ASN1_STRING_get0_data(value), want[i].text,
					    strlen(want[i].text));
		}
	}
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
	X509_REQ_free(back);
	free(pem);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

static void test_csr_without_cn_has_critical_sans_and_refuses_bad_names(void **state)
{
	static const char *const one[] = {"etcd-1.example.com"};
	static const char *const bad[] = {"has space.example.com"};
	EVP_PKEY *key = new_key(KEY_ED25519, 0);
	struct error err;
	X509_REQ *csr = x509_csr_new(key, NULL, one, 1, &err);
	STACK_OF(X509_EXTENSION) * extensions;
	GENERAL_NAMES *names;
	int critical = -1;
	(void)state;

	assert_non_null(csr);
	assert_int_equal(X509_REQ_verify(csr, key), 1);
	assert_int_equal(X509_NAME_entry_count(X509_REQ_get_subject_name(csr)), 0);
	extensions = X509_REQ_get_extensions(csr);
	names = X509V3_get_d2i(extensions, NID_subject_alt_name, &critical, NULL);
	assert_int_equal(critical, 1);
	GENERAL_NAMES_free(names);
	sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
	X509_REQ_free(csr);

	assert_null(x509_csr_new(key, "x", bad, 1, &err));
	assert_non_null(strstr(err.msg, "has space.example.com"));
	EVP_PKEY_free(key);
}

/* ---- a CA like `step ca init`, a leaf like step-ca signs ---- */

struct ca {
	EVP_PKEY *root_key, *intermediate_key;
	X509 *root, *intermediate;
};

static void ca_make(struct ca *ca, enum key_type type, const char *name)
{
	struct error err;

	ca->root_key = new_key(type, type == KEY_RSA ? 2048 : 0);
	ca->intermediate_key = new_key(type, type == KEY_RSA ? 2048 : 0);
	ca->root = x509_make_root(ca->root_key, name, X509_CA_DEFAULT_DAYS, &err);
	if (!ca->root)
		fail_msg("root: %s", err.msg);
	ca->intermediate = x509_make_intermediate(ca->intermediate_key, ca->root, ca->root_key,
						  name, X509_CA_DEFAULT_DAYS, &err);
	if (!ca->intermediate)
		fail_msg("intermediate: %s", err.msg);
}

static void ca_free(struct ca *ca)
{
	X509_free(ca->intermediate);
	X509_free(ca->root);
	EVP_PKEY_free(ca->intermediate_key);
	EVP_PKEY_free(ca->root_key);
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* What step-ca's DefaultLeafTemplate makes of a CSR: subject and SANs from it, KU
 * digitalSignature, EKU serverAuth + clientAuth, signed by the intermediate. */
static X509 *sign_leaf(const struct ca *ca, X509_REQ *csr, const char *serial_decimal,
		       time_t not_before, time_t not_after)
{
	STACK_OF(X509_EXTENSION) *extensions = X509_REQ_get_extensions(csr);
	X509 *leaf = X509_new();
	BIGNUM *serial = NULL;

	assert_int_equal(X509_set_version(leaf, X509_VERSION_3), 1);
	assert_true(BN_dec2bn(&serial, serial_decimal) > 0);
	assert_non_null(BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(leaf)));
	BN_free(serial);
	assert_int_equal(X509_set_subject_name(leaf, X509_REQ_get_subject_name(csr)), 1);
	assert_int_equal(X509_set_issuer_name(leaf, X509_get_subject_name(ca->intermediate)), 1);
	assert_non_null(X509_time_adj_ex(X509_getm_notBefore(leaf), 0, 0, &not_before));
	assert_non_null(X509_time_adj_ex(X509_getm_notAfter(leaf), 0, 0, &not_after));
	assert_int_equal(X509_set_pubkey(leaf, X509_REQ_get0_pubkey(csr)), 1);
	for (int i = 0; i < sk_X509_EXTENSION_num(extensions); i++)
		assert_int_equal(X509_add_ext(leaf, sk_X509_EXTENSION_value(extensions, i), -1), 1);
	add_ext(leaf, ca->intermediate, NID_key_usage, "critical,digitalSignature");
	add_ext(leaf, ca->intermediate, NID_ext_key_usage, "serverAuth,clientAuth");
	add_ext(leaf, ca->intermediate, NID_subject_key_identifier, "hash");
	add_ext(leaf, ca->intermediate, NID_authority_key_identifier, "keyid:always");
	assert_true(X509_sign(leaf, ca->intermediate_key, EVP_sha256()) > 0);
	sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
	return leaf;
}

static void assert_near(time_t got, time_t want)
{
	if (got < want - 5 || got > want + 5)
		fail_msg("time %lld, expected %lld +- 5", (long long)got, (long long)want);
}

static void assert_ca_cert(X509 *cert, X509 *issuer, const char *cn, long path_len)
{
	struct cert_info info;
	struct error err;
	time_t now = time(NULL);
	X509_EXTENSION *ext;
	BIGNUM *serial;
	char org[64];

	if (x509_inspect(cert, &info, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(info.subject_cn, cn);
	assert_int_equal(X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
						   NID_organizationName, org, sizeof(org)),
			 4);
	assert_string_equal(org, "Test");
	assert_true(info.is_ca);
	assert_int_equal(info.n_sans, 0);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	assert_int_equal(X509_get_pathlen(cert), path_len);
	assert_int_equal(X509_get_key_usage(cert), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	ext = X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_key_usage, -1));
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	ext = X509_get_ext(cert, X509_get_ext_by_NID(cert, NID_basic_constraints, -1));
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	assert_int_equal(X509_get_ext_by_NID(cert, NID_ext_key_usage, -1), -1);
	assert_non_null(X509_get0_subject_key_id(cert));
	assert_int_equal(X509_get0_subject_key_id(cert)->length, 20);
	if (issuer == cert) {
		assert_null(X509_get0_authority_key_id(cert));
	} else {
		assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(cert),
						       X509_get0_subject_key_id(issuer)),
				 0);
	}
	assert_int_equal(X509_check_issued(issuer, cert), X509_V_OK);
	assert_near(info.not_before, now - 60);
	assert_near(info.not_after, now + (time_t)X509_CA_DEFAULT_DAYS * 86400);
	serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	assert_true(BN_num_bits(serial) <= 128 && !BN_is_zero(serial) && !BN_is_negative(serial));
	BN_free(serial);
	cert_info_free(&info);
}

static void test_ca_mirrors_step_templates(void **state)
{
	static const enum key_type types[] = {KEY_EC_P256, KEY_EC_P384, KEY_RSA, KEY_ED25519};
	(void)state;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct ca ca;

		ca_make(&ca, types[i], "Test");
		assert_ca_cert(ca.root, ca.root, "Test Root CA", 1);
		assert_ca_cert(ca.intermediate, ca.root, "Test Intermediate CA", 0);
		assert_int_equal(x509_verify_chain(ca.intermediate, NULL, ca.root, 0, NULL), 0);
		ca_free(&ca);
	}
}

static void test_ca_refuses_mismatched_root_key_and_bad_names(void **state)
{
	struct ca ca;
	struct error err;
	EVP_PKEY *other = new_key(KEY_EC_P256, 0);
	char long_name[80];
	(void)state;

	ca_make(&ca, KEY_EC_P256, "Test");
	assert_null(x509_make_intermediate(ca.intermediate_key, ca.root, other, "Test", 10, &err));
	assert_non_null(strstr(err.msg, "does not match"));
	assert_null(x509_make_root(other, "", 10, &err));
	assert_null(x509_make_root(other, "Test", 0, &err));
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	assert_null(x509_make_root(other, long_name, 10, &err));
	assert_non_null(strstr(err.msg, "too long"));
	EVP_PKEY_free(other);
	ca_free(&ca);
}

#define LEAF_SERIAL "123456789012345678901234567890123456"

static void test_leaf_chain_verifies_and_inspects_exactly(void **state)
{
	static const char *const normal_sans[] = {
	    "etcd-1.example.com",    "10.0.0.1",	  "::1",
	    "spiffe://cluster/etcd", "admin@example.com", "localhost",
	};
	struct ca ca, other;
	EVP_PKEY *leaf_key = new_key(KEY_EC_P256, 0), *stranger = new_key(KEY_EC_P256, 0);
	struct error err;
	X509_REQ *csr = x509_csr_new(leaf_key, "etcd-1", leaf_sans, N_LEAF_SANS, &err);
	time_t now = time(NULL), not_before = now - 60, not_after = now + 86400;
	STACK_OF(X509) *intermediates = sk_X509_new_null();
	struct cert_info info;
	unsigned char der_digest[32];
	unsigned char *der = NULL;
	unsigned int digest_len = 0;
	char hex[65];
	X509 *leaf;
	int der_len;
	(void)state;

	assert_non_null(csr);
	ca_make(&ca, KEY_EC_P256, "Test");
	ca_make(&other, KEY_EC_P256, "Other");
	leaf = sign_leaf(&ca, csr, LEAF_SERIAL, not_before, not_after);
	assert_int_equal(sk_X509_push(intermediates, ca.intermediate), 1);

	assert_int_equal(x509_verify_chain(leaf, intermediates, ca.root, 0, &err), 0);
	assert_int_equal(x509_verify_chain(leaf, intermediates, other.root, 0, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "issuer certificate"));
	assert_int_equal(x509_verify_chain(leaf, NULL, ca.root, 0, &err), -EBADMSG);
	assert_int_equal(x509_verify_chain(leaf, intermediates, ca.root, not_after + 3600, &err),
			 -EKEYEXPIRED);
	assert_non_null(strstr(err.msg, "expired"));
	assert_int_equal(x509_verify_chain(leaf, intermediates, ca.root, not_before - 3600, &err),
			 -EKEYEXPIRED);

	if (x509_inspect(leaf, &info, &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(info.serial, LEAF_SERIAL);
	assert_string_equal(info.subject_cn, "etcd-1");
	assert_string_equal(info.issuer_cn, "Test Intermediate CA");
	assert_int_equal(info.not_before, not_before);
	assert_int_equal(info.not_after, not_after);
	assert_false(info.is_ca);
	assert_true(info.eku_server_auth);
	assert_true(info.eku_client_auth);
	assert_string_equal(info.key_type, "EC-P256");
	assert_int_equal(info.n_sans, N_LEAF_SANS);
	for (size_t i = 0; i < info.n_sans; i++) {
		assert_string_equal(info.sans[i].value, normal_sans[i]);
		assert_int_equal(info.sans[i].type, x509_san_type_of(leaf_sans[i]));
	}
	assert_true(x509_sans_equal(&info, leaf_sans, N_LEAF_SANS));

	/* fingerprint = SHA-256 of the DER, lowercase hex */
	der_len = i2d_X509(leaf, &der);
	assert_true(der_len > 0);
	assert_int_equal(
	    EVP_Digest(der, (size_t)der_len, der_digest, &digest_len, EVP_sha256(), NULL), 1);
	for (unsigned int i = 0; i < digest_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", der_digest[i]);
	assert_string_equal(info.fingerprint_sha256, hex);

	assert_true(key_matches_cert(leaf_key, leaf));
	assert_false(key_matches_cert(stranger, leaf));
	assert_true(key_matches_cert(ca.root_key, ca.root));

	OPENSSL_free(der);
	cert_info_free(&info);
	sk_X509_free(intermediates);
	X509_free(leaf);
	X509_REQ_free(csr);
	ca_free(&other);
	ca_free(&ca);
	EVP_PKEY_free(stranger);
	EVP_PKEY_free(leaf_key);
}

/* ---- the openssl CLI's view of a fixed certificate ---- */

/* tests/unit/vectors/x509/openssl-root.pem, made once with `openssl req -x509`; the expected
 * values come from `openssl x509 -noout -fingerprint -sha256 -serial -dates` on it (serial
 * 2BC6E16BD6449C5E19EFF1EFA500565C9877E3CD in decimal; dates Nov 25 14:53:28 2026 GMT and
 * Nov 22 14:53:28 2036 GMT as Unix time). */
static void test_inspect_matches_openssl_cli(void **state)
{
	struct error err;
	X509 *cert = x509_read_pem(VECTORS "openssl-root.pem", &err);
	struct cert_info info;
	char *hex;
	(void)state;

	if (!cert)
		fail_msg("%s", err.msg);
	hex = x509_fingerprint_sha256_hex(cert);
	assert_string_equal(hex,
			    "7721242cd205d139f5c3b6be3a8ee4d88224e93a57b4d376b75a2dacb274b315");
	assert_int_equal(x509_inspect(cert, &info, &err), 0);
	assert_string_equal(info.fingerprint_sha256, hex);
	assert_string_equal(info.serial, "249921787654093108315685352030762584562814411725");
	assert_string_equal(info.subject_cn, "Vector Root CA");
	assert_int_equal(info.not_before, 1795618408);
	assert_int_equal(info.not_after, 2110978408);
	assert_true(info.is_ca);
	assert_false(info.eku_server_auth);
	cert_info_free(&info);
	free(hex);
	X509_free(cert);
}

/* ---- comparison and renewal ---- */

static void test_sans_equal_is_a_set_comparison(void **state)
{
	struct cert_san sans[] = {
	    {SAN_DNS, "etcd-1.example.com"},
	    {SAN_IP, "::1"},
	    {SAN_IP, "10.0.0.1"},
	    {SAN_URI, "spiffe://cluster/etcd"},
	};
	struct cert_info info = {.sans = sans, .n_sans = 4};
	static const char *const reordered[] = {"10.0.0.1", "spiffe://cluster/etcd",
						"0:0:0:0:0:0:0:1", "ETCD-1.example.com"};
	static const char *const duplicated[] = {"10.0.0.1", "::1", "10.0.0.1",
						 "spiffe://cluster/etcd", "etcd-1.example.com"};
	static const char *const missing_one[] = {"10.0.0.1", "::1", "etcd-1.example.com"};
	static const char *const extra_one[] = {"10.0.0.1", "::1", "spiffe://cluster/etcd",
						"etcd-1.example.com", "etcd-2.example.com"};
	static const char *const mapped[] = {"::ffff:10.0.0.1", "::1", "spiffe://cluster/etcd",
					     "etcd-1.example.com"};
	static const char *const uri_case[] = {"10.0.0.1", "::1", "spiffe://CLUSTER/etcd",
					       "etcd-1.example.com"};
	struct cert_san as_dns[] = {{SAN_DNS, "10.0.0.1"}};
	struct cert_info dns_info = {.sans = as_dns, .n_sans = 1};
	static const char *const ip_only[] = {"10.0.0.1"};
	(void)state;

	assert_true(x509_sans_equal(&info, reordered, 4));
	assert_true(x509_sans_equal(&info, duplicated, 5));
	assert_true(x509_sans_equal(&info, mapped, 4));
	assert_false(x509_sans_equal(&info, missing_one, 3));
	assert_false(x509_sans_equal(&info, extra_one, 5));
	assert_false(x509_sans_equal(&info, uri_case, 4));
	assert_false(x509_sans_equal(&dns_info, ip_only, 1)); /* same text, other type */
	assert_false(x509_sans_equal(&info, NULL, 0));
	info.n_sans = 0;
	assert_true(x509_sans_equal(&info, NULL, 0));
}

static void test_renewal_point(void **state)
{
	struct cert_info info = {.not_before = 1000000, .not_after = 1000000 + 90 * 86400};
	(void)state;

	assert_int_equal(x509_renewal_point(&info, 2.0 / 3.0), 1000000 + 60 * 86400);
	assert_int_equal(x509_renewal_point(&info, 0.5), 1000000 + 45 * 86400);
	assert_int_equal(x509_renewal_point(&info, 0.0), info.not_before);
	assert_int_equal(x509_renewal_point(&info, -1.0), info.not_before);
	assert_int_equal(x509_renewal_point(&info, 7.0), info.not_after);
	assert_int_equal(x509_renewal_point(&info, NAN), info.not_before);
}

/* ---- certificate files ---- */

static void test_chain_files_roundtrip(void **state)
{
	struct ca ca;
	struct error err;
	X509 *pair[2];
	STACK_OF(X509) * chain;
	X509 *first;
	char *pem, *text;
	(void)state;

	ca_make(&ca, KEY_EC_P256, "Test");
	pair[0] = ca.intermediate;
	pair[1] = ca.root;
	assert_int_equal(x509_write_pem_atomic(path_in_dir("chain.crt"), pair, 2, 0644,
					       FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
			 0);
	assert_int_equal(file_mode(path_in_dir("chain.crt")), 0644);
	chain = x509_read_pem_chain(path_in_dir("chain.crt"), &err);
	assert_non_null(chain);
	assert_int_equal(sk_X509_num(chain), 2);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 0), ca.intermediate), 0);
	assert_int_equal(X509_cmp(sk_X509_value(chain, 1), ca.root), 0);
	x509_chain_free(chain);
	first = x509_read_pem(path_in_dir("chain.crt"), &err);
	assert_int_equal(X509_cmp(first, ca.intermediate), 0);
	X509_free(first);

	pem = x509_to_pem(ca.root);
	text = read_text(path_in_dir("chain.crt"));
	assert_non_null(strstr(text, pem));
	chain = x509_chain_from_pem(pem, strlen(pem), &err);
	assert_int_equal(sk_X509_num(chain), 1);
	x509_chain_free(chain);

	assert_null(x509_chain_from_pem("", 0, &err));
	assert_non_null(strstr(err.msg, "no CERTIFICATE"));
	pem[100] ^= 0x01; /* damage the base64 */
	pem[101] = '!';
	assert_null(x509_chain_from_pem(pem, strlen(pem), &err));
	assert_null(x509_read_pem(path_in_dir("missing.crt"), &err));
	assert_non_null(strstr(err.msg, "missing.crt"));
	assert_int_equal(x509_write_pem_atomic(path_in_dir("none.crt"), pair, 0, 0644,
					       FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
			 -EINVAL);
	free(text);
	free(pem);
	ca_free(&ca);
}

/* ---- files for gocheck (tests/unit/vectors/x509/README.md) ---- */

static void write_key_or_fail(const char *path, EVP_PKEY *key, const char *password)
{
	struct error err;

	if (key_write_pem(path, key, password, 0600, FS_KEEP_OWNER, FS_KEEP_GROUP, &err) < 0)
		fail_msg("%s", err.msg);
}

static void write_text_or_fail(const char *path, const char *text)
{
	struct error err;

	if (fs_write_atomic(path, text, strlen(text), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_write_vectors_for_gocheck(void **state)
{
	const char *out = getenv("X509_VECTORS_OUT");
	struct ca ca;
	struct error err;
	EVP_PKEY *leaf_key;
	X509_REQ *csr;
	char *pem, *fingerprint, name[64], sans[512] = "";
	(void)state;

	ca_make(&ca, KEY_EC_P256, "Gocheck");
	write_text_or_fail(path_in(out, "password.txt"), PASSWORD "\n");
	assert_int_equal(x509_write_pem_atomic(path_in(out, "root_ca.crt"), &ca.root, 1, 0644,
					       FS_KEEP_OWNER, FS_KEEP_GROUP, &err),
			 0);
	assert_int_equal(x509_write_pem_atomic(path_in(out, "intermediate_ca.crt"),
					       &ca.intermediate, 1, 0644, FS_KEEP_OWNER,
					       FS_KEEP_GROUP, &err),
			 0);
	write_key_or_fail(path_in(out, "root_ca_key"), ca.root_key, PASSWORD);
	write_key_or_fail(path_in(out, "intermediate_ca_key"), ca.intermediate_key, PASSWORD);
	fingerprint = x509_fingerprint_sha256_hex(ca.root);
	write_text_or_fail(path_in(out, "root_ca.fingerprint"), fingerprint);
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		EVP_PKEY *key = new_key(key_cases[i].type, key_cases[i].bits);

		snprintf(name, sizeof(name), "encrypted-%s.key", key_cases[i].name);
		write_key_or_fail(path_in(out, name), key, PASSWORD);
		snprintf(name, sizeof(name), "plain-%s.key", key_cases[i].name);
		write_key_or_fail(path_in(out, name), key, NULL);
		EVP_PKEY_free(key);
	}
	leaf_key = new_key(KEY_EC_P256, 0);
	csr = x509_csr_new(leaf_key, "etcd-1", leaf_sans, N_LEAF_SANS, &err);
	assert_non_null(csr);
	pem = x509_csr_pem(csr);
	write_text_or_fail(path_in(out, "leaf.csr"), pem);
	for (size_t i = 0; i < N_LEAF_SANS; i++) {
		strncat(sans, leaf_sans[i], sizeof(sans) - strlen(sans) - 2);
		strcat(sans, "\n");
	}
	write_text_or_fail(path_in(out, "leaf.sans"), sans);
	free(pem);
	free(fingerprint);
	X509_REQ_free(csr);
	EVP_PKEY_free(leaf_key);
	ca_free(&ca);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_type_parse),
	    cmocka_unit_test(test_keys_write_plain_with_exact_mode_and_read_back),
	    cmocka_unit_test(test_keys_encrypted_roundtrip_and_wrong_password),
	    cmocka_unit_test(test_key_write_refuses_bad_passwords_and_paths),
	    cmocka_unit_test(test_key_read_step_written_vectors),
	    cmocka_unit_test(test_san_types_follow_step_split_sans),
	    cmocka_unit_test(test_csr_carries_typed_sans),
	    cmocka_unit_test(test_csr_without_cn_has_critical_sans_and_refuses_bad_names),
	    cmocka_unit_test(test_ca_mirrors_step_templates),
	    cmocka_unit_test(test_ca_refuses_mismatched_root_key_and_bad_names),
	    cmocka_unit_test(test_leaf_chain_verifies_and_inspects_exactly),
	    cmocka_unit_test(test_inspect_matches_openssl_cli),
	    cmocka_unit_test(test_sans_equal_is_a_set_comparison),
	    cmocka_unit_test(test_renewal_point),
	    cmocka_unit_test(test_chain_files_roundtrip),
	};
	const struct CMUnitTest for_gocheck[] = {
	    cmocka_unit_test(test_write_vectors_for_gocheck),
	};

	if (getenv("X509_VECTORS_OUT"))
		return cmocka_run_group_tests(for_gocheck, NULL, NULL);
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
