/*
 * x509: certificates for step_cert and step_ca, via OpenSSL 3.
 *
 * - CSRs (x509_csr_new): the node's CN and SANs; each SAN is typed from its text exactly as
 *   go.step.sm/crypto/x509util/utils.go SplitSANs types it, because step-ca's JWK provisioner
 *   splits the token's "sans" claim with it and compares each type with the CSR's
 *   (authority/provisioner/sign_options.go defaultSANsValidator): an IPv4/IPv6 address
 *   (net.ParseIP) → IP; text starting with a URL scheme and ':' (url.Parse: ALPHA *(ALPHA /
 *   DIGIT / "+" / "-" / ".") ":", so "spiffe://x" and "urn:x") → URI; containing '@' → email;
 *   anything else → DNS.
 * - Inspection (x509_inspect, x509_sans_equal, x509_renewal_point) gives step_cert what it
 *   needs to decide whether a certificate is still what was asked for.
 * - Chains (x509_verify_chain): leaf → intermediates → one trusted root, at a given time.
 * - CA creation (x509_make_root, x509_make_intermediate) mirrors what `step ca init` makes
 *   (certificates/pki/pki.go GenerateRootCertificate / GenerateIntermediateCertificate, signed by
 *   cas/softcas and go.step.sm/crypto/x509util.CreateCertificate):
 *     subject CN "<name> Root CA" / "<name> Intermediate CA", O "<name>"; version 3;
 *     random serial below 2^128; keyUsage critical keyCertSign+cRLSign; basicConstraints critical
 *     CA:TRUE, pathlen 1 (root) / 0 (intermediate); subjectKeyIdentifier = SHA-1 of the public key
 *     bits (RFC 5280 4.2.1.2 method 1); the intermediate's authorityKeyIdentifier = the root's SKI
 *     (keyid only), the root has none (Go x509.CreateCertificate omits it when self-signed);
 *     signature hash as Go picks it (key_signature_digest). step's lifetime is 10*365 days.
 *     One deliberate difference: notBefore is backdated by one minute (step uses "now" for CA
 *     certificates and backdates only leaves, by authority/config DefaultBackdate = 1m), so
 *     that a node whose clock is a little behind the CA host still accepts the new CA at once.
 *
 * Ownership: X509 / X509_REQ / STACK_OF(X509) returned here belong to the caller (X509_free,
 * X509_REQ_free, x509_chain_free). char * results are malloc'ed (free). struct cert_info owns its
 * strings: cert_info_free(). Inputs are borrowed.
 */
#ifndef ETCD_ANSIBLE_X509_H
#define ETCD_ANSIBLE_X509_H

#include "error.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

/* step's `step ca init` lifetime for root and intermediate: 10 * 365 * 24h (pki/pki.go). */
#define X509_CA_DEFAULT_DAYS (10 * 365)

enum san_type { SAN_DNS, SAN_IP, SAN_EMAIL, SAN_URI };

struct cert_san {
	enum san_type type;
	char *value; /* IPs in canonical text form (inet_ntop; IPv4-mapped IPv6 as IPv4) */
};

struct cert_info {
	char *serial;	  /* decimal, as step prints it and step-ca's revoke API takes it */
	char *subject_cn; /* "" when the subject has no CN */
	char *issuer_cn;
	struct cert_san *sans; /* DNS, IP, email, URI SANs in certificate order; others skipped */
	size_t n_sans;
	time_t not_before, not_after;
	char fingerprint_sha256[65]; /* lowercase hex of SHA-256(DER) */
	const char *key_type;	     /* key_type_name() of the public key; static */
	bool is_ca;		     /* basicConstraints CA:TRUE */
	bool eku_server_auth;	     /* extendedKeyUsage present and lists serverAuth */
	bool eku_client_auth;	     /* ... clientAuth */
};

/* The type a SAN given as text gets (see above); "DNS", "IP", "email", "URI" name them. */
enum san_type x509_san_type_of(const char *value);
const char *x509_san_type_name(enum san_type type);

/*
 * A CSR signed by key with subject CN common_name (none if NULL or "") and the SANs, typed as
 * above. Without a CN the SAN extension is critical (RFC 5280 4.2.1.6, as Go's
 * x509util.fixSubjectAltName does). Caller frees with X509_REQ_free.
 */
X509_REQ *x509_csr_new(EVP_PKEY *key, const char *common_name, const char *const *sans,
		       size_t n_sans, struct error *err);

/* PEM text of a CSR / a certificate, NUL-terminated, malloc'ed; NULL only when out of memory. */
char *x509_csr_pem(X509_REQ *csr);
char *x509_to_pem(X509 *cert);

/* Every CERTIFICATE block of PEM text (at least one), in order; x509_chain_free() frees it. */
STACK_OF(X509) * x509_chain_from_pem(const char *text, size_t len, struct error *err);
STACK_OF(X509) * x509_read_pem_chain(const char *path, struct error *err);
void x509_chain_free(STACK_OF(X509) * chain);

/* The first certificate in a PEM file; caller frees with X509_free. */
X509 *x509_read_pem(const char *path, struct error *err);

/* Fills info (which the caller frees with cert_info_free, also after a failure). */
int x509_inspect(X509 *cert, struct cert_info *info, struct error *err);
void cert_info_free(struct cert_info *info);

/*
 * Verifies leaf up to root (the only trust anchor) through intermediates (may be NULL), at time
 * `at` (0 = now). Returns 0; -EKEYEXPIRED when a certificate of the chain is expired or not yet
 * valid at that time; -EBADMSG for any other failure, with OpenSSL's reason in err.
 */
int x509_verify_chain(X509 *leaf, STACK_OF(X509) * intermediates, X509 *root, time_t at,
		      struct error *err);

/*
 * true if the certificate's SANs are exactly the wanted ones as a set: order and duplicates do
 * not matter, IPs compare by address (::1 equals 0:0:0:0:0:0:0:1), DNS names ignore ASCII case.
 */
bool x509_sans_equal(const struct cert_info *info, const char *const *wanted, size_t n_wanted);

/* not_before + fraction * (not_after - not_before); fraction is clamped to [0, 1]. */
time_t x509_renewal_point(const struct cert_info *info, double fraction);

/* Lowercase hex SHA-256 of the DER certificate, as `step certificate fingerprint` prints it and
 * as `step ca bootstrap --fingerprint` takes it. malloc'ed; NULL when out of memory. */
char *x509_fingerprint_sha256_hex(X509 *cert);

/* A self-signed root, "<name> Root CA", valid days from now (see above). Caller frees. */
X509 *x509_make_root(EVP_PKEY *key, const char *name, int days, struct error *err);

/* An intermediate "<name> Intermediate CA" for key, signed by root_key (which must match root). */
X509 *x509_make_intermediate(EVP_PKEY *key, X509 *root, EVP_PKEY *root_key, const char *name,
			     int days, struct error *err);

/* Writes certs as concatenated PEM blocks, atomically, with mode and owner (fs_write_atomic). */
int x509_write_pem_atomic(const char *path, X509 *const *certs, size_t n, mode_t mode, uid_t uid,
			  gid_t gid, struct error *err);

#endif
