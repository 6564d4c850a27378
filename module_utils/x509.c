#include "x509.h"

#include "buf.h"
#include "fs.h"
#include "keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A certificate bundle is a few KiB; 1 MiB leaves room for long chains and still bounds it. */
#define CERT_FILE_MAX (1024u * 1024u)

/* See x509.h: CA certificates are backdated like step-ca backdates leaves (DefaultBackdate). */
#define CA_BACKDATE_SECONDS 60

/* RFC 5280 ub-common-name: OpenSSL refuses longer CNs, so say why before it does. */
#define COMMON_NAME_MAX 64

/* ---- SAN typing and normal forms ---- */

/* Go url.Parse's getScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) followed by ':'. */
static bool has_url_scheme(const char *s)
{
	size_t i = 1;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
	       (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
		i++;
	return s[i] == ':';
}

/* Text form of a 4- or 16-byte address as Go's net.IP.String() prints it (IPv4-mapped → IPv4). */
static int ip_bytes_to_text(const unsigned char *bytes, size_t len, char *out, size_t size)
{
	static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (len == 16 && memcmp(bytes, v4_mapped, sizeof(v4_mapped)) == 0) {
		bytes += 12;
		len = 4;
	}
	if (len == 4 && inet_ntop(AF_INET, bytes, out, (socklen_t)size))
		return 0;
	if (len == 16 && inet_ntop(AF_INET6, bytes, out, (socklen_t)size))
		return 0;
	return -EINVAL;
}

/* Canonical text of an IP given as text; -EINVAL if it is not one (as net.ParseIP decides). */
static int ip_text_canonical(const char *text, char *out, size_t size)
{
	unsigned char bytes[16];

	if (inet_pton(AF_INET, text, bytes) == 1)
		return ip_bytes_to_text(bytes, 4, out, size);
	if (inet_pton(AF_INET6, text, bytes) == 1)
		return ip_bytes_to_text(bytes, 16, out, size);
	return -EINVAL;
}

enum san_type x509_san_type_of(const char *value)
{
	char ip[INET6_ADDRSTRLEN];

	if (ip_text_canonical(value, ip, sizeof(ip)) == 0)
		return SAN_IP;
	if (has_url_scheme(value))
		return SAN_URI;
	if (strchr(value, '@'))
		return SAN_EMAIL;
	return SAN_DNS;
}

const char *x509_san_type_name(enum san_type type)
{
	switch (type) {
	case SAN_DNS:
		return "DNS";
	case SAN_IP:
		return "IP";
	case SAN_EMAIL:
		return "email";
	case SAN_URI:
		return "URI";
	}
	return "unknown";
}

/* ---- small helpers ---- */

/* The text held by a memory BIO as a malloc'ed NUL-terminated string. */
static char *bio_to_string(BIO *bio)
{
	char *data, *text;
	long len = BIO_get_mem_data(bio, &data);

	if (len < 0)
		return NULL;
	text = malloc((size_t)len + 1);
	if (!text)
		return NULL;
	memcpy(text, data, (size_t)len);
	text[len] = '\0';
	return text;
}

/* Certificates are never encrypted: refuse instead of OpenSSL's default terminal prompt. */
static int no_password_cb(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static const char *openssl_reason(void)
{
	const char *reason = ERR_reason_error_string(ERR_peek_last_error());

	return reason ? reason : "unknown OpenSSL error";
}

static int name_add_text(X509_NAME *name, int nid, const char *text, struct error *err)
{
	if (strlen(text) > COMMON_NAME_MAX && nid == NID_commonName)
		return error_set(err, -EINVAL, "common name '%s' is longer than %d characters",
				 text, COMMON_NAME_MAX);
	if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8, (const unsigned char *)text, -1,
				       -1, 0) != 1)
		return error_set(err, -EINVAL, "cannot put '%s' in a name: %s", text,
				 openssl_reason());
	return 0;
}

/* ---- CSR ---- */

static int san_gen_type(enum san_type type)
{
	switch (type) {
	case SAN_IP:
		return GEN_IPADD;
	case SAN_URI:
		return GEN_URI;
	case SAN_EMAIL:
		return GEN_EMAIL;
	case SAN_DNS:
		break;
	}
	return GEN_DNS;
}

/* DNS names, emails and URIs are IA5String: printable ASCII, no spaces (RFC 5280 4.2.1.6). */
static bool is_ia5_token(const char *value)
{
	if (!*value)
		return false;
	for (const char *p = value; *p; p++) {
		if (*p < 0x21 || *p > 0x7e)
			return false;
	}
	return true;
}

static ASN1_STRING *san_value_new(const char *value, enum san_type type)
{
	ASN1_STRING *text;

	if (type == SAN_IP)
		return a2i_IPADDRESS(value);
	if (!is_ia5_token(value))
		return NULL;
	text = ASN1_IA5STRING_new();
	if (text && ASN1_STRING_set(text, value, (int)strlen(value)) != 1) {
		ASN1_IA5STRING_free(text);
		text = NULL;
	}
	return text;
}

static GENERAL_NAME *san_general_name_new(const char *value, struct error *err)
{
	enum san_type type = x509_san_type_of(value);
	ASN1_STRING *data = san_value_new(value, type);
	GENERAL_NAME *name = data ? GENERAL_NAME_new() : NULL;

	if (!name) {
		ASN1_STRING_free(data);
		error_set(err, -EINVAL, "SAN '%s' is not a valid %s name", value,
			  x509_san_type_name(type));
		return NULL;
	}
	GENERAL_NAME_set0_value(name, san_gen_type(type), data);
	return name;
}

static int csr_add_sans(X509_REQ *csr, const char *const *sans, size_t n_sans, bool critical,
			struct error *err)
{
	GENERAL_NAMES *names = GENERAL_NAMES_new();
	STACK_OF(X509_EXTENSION) *extensions = sk_X509_EXTENSION_new_null();
	X509_EXTENSION *extension = NULL;
	int rc = -ENOMEM;

	if (!names || !extensions)
		goto out;
	for (size_t i = 0; i < n_sans; i++) {
		GENERAL_NAME *name = san_general_name_new(sans[i], err);

		if (!name) {
			rc = -EINVAL;
			goto out;
		}
		if (!sk_GENERAL_NAME_push(names, name)) {
			GENERAL_NAME_free(name);
			goto out;
		}
	}
	extension = X509V3_EXT_i2d(NID_subject_alt_name, critical, names);
	if (!extension || !sk_X509_EXTENSION_push(extensions, extension))
		goto out;
	extension = NULL; /* owned by the stack now */
	rc = X509_REQ_add_extensions(csr, extensions) == 1 ? 0 : -ENOMEM;
out:
	if (rc == -ENOMEM)
		error_set(err, rc, "cannot add the SANs to the CSR: %s", openssl_reason());
	X509_EXTENSION_free(extension);
	sk_X509_EXTENSION_pop_free(extensions, X509_EXTENSION_free);
	GENERAL_NAMES_free(names);
	return rc;
}

X509_REQ *x509_csr_new(EVP_PKEY *key, const char *common_name, const char *const *sans,
		       size_t n_sans, struct error *err)
{
	X509_REQ *csr = X509_REQ_new();
	bool has_cn = common_name && *common_name;
	int rc = 0;

	if (!csr)
		rc = error_set(err, -ENOMEM, "cannot make a CSR: out of memory");
	if (!rc && has_cn)
		rc =
		    name_add_text(X509_REQ_get_subject_name(csr), NID_commonName, common_name, err);
	if (!rc && X509_REQ_set_pubkey(csr, key) != 1)
		rc = error_set(err, -EINVAL, "cannot put the key in the CSR: %s", openssl_reason());
	if (!rc && n_sans)
		rc = csr_add_sans(csr, sans, n_sans, !has_cn, err);
	if (!rc && X509_REQ_sign(csr, key, key_signature_digest(key)) <= 0)
		rc = error_set(err, -EIO, "cannot sign the CSR: %s", openssl_reason());
	ERR_clear_error();
	if (rc < 0) {
		X509_REQ_free(csr);
		return NULL;
	}
	return csr;
}

char *x509_csr_pem(X509_REQ *csr)
{
	BIO *out = BIO_new(BIO_s_mem());
	char *text = NULL;

	if (out && PEM_write_bio_X509_REQ(out, csr) == 1)
		text = bio_to_string(out);
	BIO_free(out);
	return text;
}

/* ---- PEM in and out ---- */

char *x509_to_pem(X509 *cert)
{
	BIO *out = BIO_new(BIO_s_mem());
	char *text = NULL;

	if (out && PEM_write_bio_X509(out, cert) == 1)
		text = bio_to_string(out);
	BIO_free(out);
	return text;
}

void x509_chain_free(STACK_OF(X509) * chain)
{
	sk_X509_pop_free(chain, X509_free);
}

/* After the last certificate OpenSSL reports "no start line"; anything else is damage. */
static bool pem_ended_cleanly(void)
{
	unsigned long e = ERR_peek_last_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

STACK_OF(X509) * x509_chain_from_pem(const char *text, size_t len, struct error *err)
{
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *in = len <= INT_MAX ? BIO_new_mem_buf(text, (int)len) : NULL;
	X509 *cert;
	int rc = 0;

	if (!chain || !in) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	while ((cert = PEM_read_bio_X509(in, NULL, no_password_cb, NULL))) {
		if (!sk_X509_push(chain, cert)) {
			X509_free(cert);
			rc = error_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!pem_ended_cleanly())
		rc = error_set(err, -EBADMSG, "malformed certificate PEM: %s", openssl_reason());
	else if (sk_X509_num(chain) == 0)
		rc = error_set(err, -EBADMSG, "no CERTIFICATE block in PEM");
out:
	ERR_clear_error();
	BIO_free(in);
	if (rc < 0) {
		x509_chain_free(chain);
		chain = NULL;
	}
	return chain;
}

STACK_OF(X509) * x509_read_pem_chain(const char *path, struct error *err)
{
	STACK_OF(X509) * chain;
	char *text = NULL;
	size_t len = 0;

	if (fs_read_file(path, CERT_FILE_MAX, &text, &len, err) < 0)
		return NULL;
	chain = x509_chain_from_pem(text, len, err);
	if (!chain)
		error_wrap(err, -EBADMSG, "%s", path);
	free(text);
	return chain;
}

X509 *x509_read_pem(const char *path, struct error *err)
{
	STACK_OF(X509) *chain = x509_read_pem_chain(path, err);
	X509 *first;

	if (!chain)
		return NULL;
	first = sk_X509_shift(chain);
	x509_chain_free(chain);
	return first;
}

/* ---- inspection ---- */

/* The first CN of a name as malloc'ed UTF-8, "" if there is none; NULL when out of memory. */
static char *name_common_name_dup(const X509_NAME *name)
{
	int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *cn;
	int len;

	if (index < 0)
		return strdup("");
	len =
	    ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
	if (len < 0)
		return NULL;
	cn = strndup((const char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return cn;
}

static char *serial_decimal_dup(const X509 *cert)
{
	BIGNUM *serial = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
	char *decimal = serial ? BN_bn2dec(serial) : NULL;
	char *copy = decimal ? strdup(decimal) : NULL;

	OPENSSL_free(decimal);
	BN_free(serial);
	return copy;
}

static int time_from_asn1(const ASN1_TIME *when, time_t *out)
{
	struct tm tm;

	if (!when || ASN1_TIME_to_tm(when, &tm) != 1)
		return -EBADMSG;
	*out = timegm(&tm);
	return 0;
}

static int fingerprint_hex(X509 *cert, char out[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (X509_digest(cert, EVP_sha256(), digest, &len) != 1 || len != 32)
		return -EIO;
	hex_encode(digest, len, out);
	return 0;
}

/* Fills san from a general name: 1 if filled, 0 if of a type we skip, <0 on error. */
static int san_from_general_name(const GENERAL_NAME *name, struct cert_san *san)
{
	char ip[INET6_ADDRSTRLEN];
	const ASN1_STRING *data;
	int gen_type;

	data = GENERAL_NAME_get0_value(name, &gen_type);
	switch (gen_type) {
	case GEN_IPADD:
		if (ip_bytes_to_text(ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data),
				     ip, sizeof(ip)) < 0)
			return -EBADMSG;
		san->type = SAN_IP;
		san->value = strdup(ip);
		return san->value ? 1 : -ENOMEM;
	case GEN_DNS:
		san->type = SAN_DNS;
		break;
	case GEN_EMAIL:
		san->type = SAN_EMAIL;
		break;
	case GEN_URI:
		san->type = SAN_URI;
		break;
	default:
		return 0;
	}
	if (memchr(ASN1_STRING_get0_data(data), '\0', (size_t)ASN1_STRING_length(data)))
		return -EBADMSG; /* a NUL inside a name would make the C string lie */
	san->value =
	    strndup((const char *)ASN1_STRING_get0_data(data), (size_t)ASN1_STRING_length(data));
	return san->value ? 1 : -ENOMEM;
}

static int inspect_sans(X509 *cert, struct cert_info *info, struct error *err)
{
	int critical = -1, rc = 0, count;
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, &critical, NULL);

	if (!names)
		return critical == -1 ? 0 : error_set(err, -EBADMSG, "malformed subjectAltName");
	count = sk_GENERAL_NAME_num(names);
	info->sans = calloc(count > 0 ? (size_t)count : 1, sizeof(*info->sans));
	if (!info->sans) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < count; i++) {
		int filled = san_from_general_name(sk_GENERAL_NAME_value(names, i),
						   &info->sans[info->n_sans]);

		if (filled < 0) {
			rc = error_set(err, filled, "malformed subjectAltName entry %d", i);
			goto out;
		}
		info->n_sans += (size_t)filled;
	}
out:
	GENERAL_NAMES_free(names);
	return rc;
}

static int inspect_extension_flags(X509 *cert, struct cert_info *info, struct error *err)
{
	uint32_t flags = X509_get_extension_flags(cert);

	if (flags & EXFLAG_INVALID)
		return error_set(err, -EBADMSG, "the certificate has malformed extensions");
	info->is_ca = (flags & EXFLAG_CA) != 0;
	if (flags & EXFLAG_XKUSAGE) {
		uint32_t usages = X509_get_extended_key_usage(cert);

		info->eku_server_auth = (usages & XKU_SSL_SERVER) != 0;
		info->eku_client_auth = (usages & XKU_SSL_CLIENT) != 0;
	}
	return 0;
}

int x509_inspect(X509 *cert, struct cert_info *info, struct error *err)
{
	const EVP_PKEY *pub = X509_get0_pubkey(cert);
	int rc;

	memset(info, 0, sizeof(*info));
	info->serial = serial_decimal_dup(cert);
	info->subject_cn = name_common_name_dup(X509_get_subject_name(cert));
	info->issuer_cn = name_common_name_dup(X509_get_issuer_name(cert));
	if (!info->serial || !info->subject_cn || !info->issuer_cn)
		return error_set(err, -ENOMEM, "cannot read the certificate's names and serial");
	if (time_from_asn1(X509_get0_notBefore(cert), &info->not_before) < 0 ||
	    time_from_asn1(X509_get0_notAfter(cert), &info->not_after) < 0)
		return error_set(err, -EBADMSG, "the certificate has malformed validity dates");
	if (fingerprint_hex(cert, info->fingerprint_sha256) < 0)
		return error_set(err, -EIO, "cannot compute the certificate's fingerprint");
	info->key_type = pub ? key_type_name(pub) : "unknown";
	rc = inspect_extension_flags(cert, info, err);
	if (rc == 0)
		rc = inspect_sans(cert, info, err);
	ERR_clear_error();
	return rc;
}

void cert_info_free(struct cert_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_sans; i++)
		free(info->sans[i].value);
	free(info->sans);
	free(info->serial);
	free(info->subject_cn);
	free(info->issuer_cn);
	memset(info, 0, sizeof(*info));
}

char *x509_fingerprint_sha256_hex(X509 *cert)
{
	char *hex = malloc(65);

	if (hex && fingerprint_hex(cert, hex) < 0) {
		free(hex);
		hex = NULL;
	}
	return hex;
}

/* ---- verification ---- */

static int verify_failure(X509_STORE_CTX *ctx, struct error *err)
{
	int code = X509_STORE_CTX_get_error(ctx);
	X509 *current = X509_STORE_CTX_get_current_cert(ctx);
	char *cn = current ? name_common_name_dup(X509_get_subject_name(current)) : NULL;
	int rc = (code == X509_V_ERR_CERT_HAS_EXPIRED || code == X509_V_ERR_CERT_NOT_YET_VALID)
		     ? -EKEYEXPIRED
		     : -EBADMSG;

	error_set(err, rc, "certificate chain does not verify (depth %d, CN '%s'): %s",
		  X509_STORE_CTX_get_error_depth(ctx), cn ? cn : "?",
		  X509_verify_cert_error_string(code));
	free(cn);
	return rc;
}

int x509_verify_chain(X509 *leaf, STACK_OF(X509) * intermediates, X509 *root, time_t at,
		      struct error *err)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int rc = 0;

	if (!store || !ctx)
		rc = error_set(err, -ENOMEM, "out of memory");
	else if (X509_STORE_add_cert(store, root) != 1 ||
		 X509_STORE_CTX_init(ctx, store, leaf, intermediates) != 1)
		rc = error_set(err, -EIO, "cannot set up verification: %s", openssl_reason());
	if (rc == 0 && at != 0)
		X509_STORE_CTX_set_time(ctx, 0, at);
	if (rc == 0 && X509_verify_cert(ctx) != 1)
		rc = verify_failure(ctx, err);
	ERR_clear_error();
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* ---- comparison and renewal ---- */

/* value of a SAN given as text, in the form inspection reports (IPs canonical). */
static const char *san_normal_form(const char *text, enum san_type type, char *buf, size_t size)
{
	if (type == SAN_IP && ip_text_canonical(text, buf, size) == 0)
		return buf;
	return text;
}

static bool san_equals_text(const struct cert_san *san, const char *text)
{
	char buf[INET6_ADDRSTRLEN];
	enum san_type type = x509_san_type_of(text);
	const char *value = san_normal_form(text, type, buf, sizeof(buf));

	if (san->type != type)
		return false;
	/* DNS names are case-insensitive (RFC 4343); the others compare as given. */
	return type == SAN_DNS ? strcasecmp(san->value, value) == 0
			       : strcmp(san->value, value) == 0;
}

static bool san_in_list(const struct cert_san *san, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (san_equals_text(san, list[i]))
			return true;
	}
	return false;
}

static bool text_in_cert(const struct cert_info *info, const char *text)
{
	for (size_t i = 0; i < info->n_sans; i++) {
		if (san_equals_text(&info->sans[i], text))
			return true;
	}
	return false;
}

bool x509_sans_equal(const struct cert_info *info, const char *const *wanted, size_t n_wanted)
{
	for (size_t i = 0; i < n_wanted; i++) {
		if (!text_in_cert(info, wanted[i]))
			return false;
	}
	for (size_t i = 0; i < info->n_sans; i++) {
		if (!san_in_list(&info->sans[i], wanted, n_wanted))
			return false;
	}
	return true;
}

time_t x509_renewal_point(const struct cert_info *info, double fraction)
{
	double lifetime = difftime(info->not_after, info->not_before);

	if (!(fraction > 0.0)) /* also catches NaN */
		fraction = 0.0;
	if (fraction > 1.0)
		fraction = 1.0;
	return info->not_before + (time_t)(fraction * lifetime);
}

/* ---- CA creation ---- */

/* A random serial below 2^128 and above 0, as x509util generateSerialNumber (RFC 5280 4.1.2.2:
 * positive). */
static int set_random_serial(X509 *cert)
{
	BIGNUM *value = BN_new();
	ASN1_INTEGER *serial = NULL;
	int rc = -EIO;

	if (!value)
		goto out;
	for (int attempt = 0; attempt < 8 && BN_is_zero(value); attempt++) {
		if (BN_rand(value, 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1)
			goto out;
	}
	if (BN_is_zero(value))
		goto out;
	serial = BN_to_ASN1_INTEGER(value, NULL);
	if (serial && X509_set_serialNumber(cert, serial) == 1)
		rc = 0;
out:
	ASN1_INTEGER_free(serial);
	BN_free(value);
	return rc;
}

/* pkix.Name.ToRDNSequence puts O before CN; pki.go sets O = name, CN = name + suffix. */
static int set_ca_subject(X509 *cert, const char *name, const char *suffix, struct error *err)
{
	X509_NAME *subject = X509_NAME_new();
	char cn[COMMON_NAME_MAX + 2];
	int n = snprintf(cn, sizeof(cn), "%s %s", name, suffix);
	int rc;

	if (!subject)
		return error_set(err, -ENOMEM, "out of memory");
	if (n < 0 || (size_t)n >= sizeof(cn))
		rc = error_set(err, -EINVAL, "CA name '%s' is too long for a common name", name);
	else if ((rc = name_add_text(subject, NID_organizationName, name, err)) == 0 &&
		 (rc = name_add_text(subject, NID_commonName, cn, err)) == 0 &&
		 X509_set_subject_name(cert, subject) != 1)
		rc = error_set(err, -ENOMEM, "out of memory");
	X509_NAME_free(subject);
	return rc;
}

static int set_ca_validity(X509 *cert, int days)
{
	if (!X509_gmtime_adj(X509_getm_notBefore(cert), -CA_BACKDATE_SECONDS))
		return -EIO;
	if (!X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL))
		return -EIO;
	return 0;
}

/* Version 3, serial, subject, validity and key of a CA certificate; issuer and extensions later. */
static X509 *ca_cert_new(EVP_PKEY *key, const char *name, const char *suffix, int days,
			 struct error *err)
{
	X509 *cert = NULL;
	int rc = 0;

	if (!name || !*name)
		rc = error_set(err, -EINVAL, "the CA name is empty");
	else if (days < 1 || days > 100 * 366)
		rc = error_set(err, -EINVAL, "CA validity must be 1..36600 days, got %d", days);
	else if (!(cert = X509_new()))
		rc = error_set(err, -ENOMEM, "out of memory");
	else if (X509_set_version(cert, X509_VERSION_3) != 1 || set_random_serial(cert) < 0 ||
		 set_ca_validity(cert, days) < 0 || X509_set_pubkey(cert, key) != 1)
		rc = error_set(err, -EIO, "cannot fill the certificate: %s", openssl_reason());
	else
		rc = set_ca_subject(cert, name, suffix, err);
	if (rc < 0) {
		X509_free(cert);
		cert = NULL;
	}
	return cert;
}

static int add_extension(X509 *cert, X509 *issuer, int nid, const char *value, struct error *err)
{
	X509V3_CTX ctx;
	X509_EXTENSION *extension;
	int rc = 0;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	extension = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	if (!extension || X509_add_ext(cert, extension, -1) != 1)
		rc = error_set(err, -EIO, "cannot add %s = %s: %s", OBJ_nid2sn(nid), value,
			       openssl_reason());
	X509_EXTENSION_free(extension);
	return rc;
}

/* x509util DefaultRootTemplate / DefaultIntermediateTemplate and pki.go's templates: see x509.h.
 * The order is Go's buildCertExtensions order. */
static int add_ca_extensions(X509 *cert, X509 *issuer, int path_len, struct error *err)
{
	char constraints[48];
	int rc;

	snprintf(constraints, sizeof(constraints), "critical,CA:TRUE,pathlen:%d", path_len);
	rc = add_extension(cert, issuer, NID_key_usage, "critical,keyCertSign,cRLSign", err);
	if (rc == 0)
		rc = add_extension(cert, issuer, NID_basic_constraints, constraints, err);
	if (rc == 0)
		rc = add_extension(cert, issuer, NID_subject_key_identifier, "hash", err);
	if (rc == 0 && issuer != cert)
		rc = add_extension(cert, issuer, NID_authority_key_identifier, "keyid:always", err);
	return rc;
}

static int sign_cert(X509 *cert, EVP_PKEY *signer, struct error *err)
{
	if (X509_sign(cert, signer, key_signature_digest(signer)) <= 0)
		return error_set(err, -EIO, "cannot sign the certificate: %s", openssl_reason());
	return 0;
}

X509 *x509_make_root(EVP_PKEY *key, const char *name, int days, struct error *err)
{
	X509 *cert = ca_cert_new(key, name, "Root CA", days, err);
	int rc = cert ? 0 : -EINVAL;

	if (rc == 0 && X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1)
		rc = error_set(err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = add_ca_extensions(cert, cert, 1, err);
	if (rc == 0)
		rc = sign_cert(cert, key, err);
	ERR_clear_error();
	if (rc < 0) {
		X509_free(cert);
		cert = NULL;
	}
	return cert;
}

X509 *x509_make_intermediate(EVP_PKEY *key, X509 *root, EVP_PKEY *root_key, const char *name,
			     int days, struct error *err)
{
	X509 *cert = NULL;
	int rc = 0;

	if (!key_matches_cert(root_key, root))
		rc = error_set(err, -EINVAL, "the root key does not match the root certificate");
	else if (!(cert = ca_cert_new(key, name, "Intermediate CA", days, err)))
		rc = -EINVAL;
	else if (X509_set_issuer_name(cert, X509_get_subject_name(root)) != 1)
		rc = error_set(err, -ENOMEM, "out of memory");
	if (rc == 0)
		rc = add_ca_extensions(cert, root, 0, err);
	if (rc == 0)
		rc = sign_cert(cert, root_key, err);
	ERR_clear_error();
	if (rc < 0) {
		X509_free(cert);
		cert = NULL;
	}
	return cert;
}

/* ---- writing ---- */

int x509_write_pem_atomic(const char *path, X509 *const *certs, size_t n, mode_t mode, uid_t uid,
			  gid_t gid, struct error *err)
{
	BIO *out = BIO_new(BIO_s_mem());
	char *pem = NULL;
	long len = 0;
	int rc = 0;

	if (!out)
		rc = error_set(err, -ENOMEM, "%s: out of memory", path);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (PEM_write_bio_X509(out, certs[i]) != 1)
			rc = error_set(err, -EIO, "%s: cannot encode certificate %zu", path, i);
	}
	if (rc == 0 && (len = BIO_get_mem_data(out, &pem)) <= 0)
		rc = error_set(err, -EINVAL, "%s: no certificate to write", path);
	if (rc == 0)
		rc = fs_write_atomic(path, pem, (size_t)len, mode, uid, gid, err);
	ERR_clear_error();
	BIO_free(out);
	return rc;
}
