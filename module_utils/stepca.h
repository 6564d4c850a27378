/*
 * stepca: a client of the Smallstep CA (step-ca 0.19) HTTP API, as docs/stepca-formats.md
 * describes it: /health, /provisioners (the JWK provisioner's public key and encrypted private
 * key), one-time tokens for /1.0/sign, and /1.0/renew over mTLS.
 *
 * The CA is always reached over verified TLS with the root given by the caller. Tokens are
 * secrets: callers register them with module_add_secret() and wipe them after use.
 * Strings and JSON returned through out-parameters are owned by the caller.
 */
#ifndef ETCD_ANSIBLE_STEPCA_H
#define ETCD_ANSIBLE_STEPCA_H

#include "error.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>

struct stepca {
	const char *url;       /* https://host:port, no trailing path */
	const char *root_file; /* PEM root the CA's TLS chain must lead to */
	long timeout_ms;       /* per request; 0 = 30 s */
};

/* GET /health: 0 when the CA answers {"status":"ok"}. */
int stepca_health(const struct stepca *ca, struct error *err);

/*
 * Finds the JWK provisioner `name` (paging /provisioners) and returns its public JWK (*key,
 * borrowed into a new reference the caller decrefs) and its encryptedKey (*encrypted_key).
 */
int stepca_provisioner(const struct stepca *ca, const char *name, json_t **key,
		       char **encrypted_key, struct error *err);

/*
 * The provisioner's private key: encrypted_key (its JWE, from ca.json or /provisioners) opened
 * with password; *kid from public_jwk. *key and *kid are the caller's; the decrypted JWK text
 * is wiped. -EACCES when the password does not open it.
 */
int stepca_provisioner_key(const json_t *public_jwk, const char *encrypted_key,
			   const char *password, EVP_PKEY **key, char **kid, struct error *err);

/* The JWK provisioner `name` of a parsed ca.json (borrowed), or NULL. */
const json_t *stepca_config_provisioner(const json_t *config, const char *name);

/*
 * A one-time token for /1.0/sign, as the step CLI makes it: ES256 with the provisioner key,
 * kid = the provisioner key's kid, iss = provisioner, aud = https://<ca host>/1.0/sign,
 * sub = subject, sans, iat = nbf = now, exp = now + 5 min, a random jti, sha = root fingerprint.
 */
int stepca_sign_token(EVP_PKEY *key, const char *kid, const char *provisioner,
		      const char *ca_url, const char *subject, const char *const *sans,
		      size_t n_sans, const char *root_fingerprint, char **token, struct error *err);

/*
 * POST /1.0/sign. not_after may be NULL (the provisioner's default) or a Go duration ("720h").
 * *chain_pem receives the leaf followed by the intermediates (PEM).
 */
int stepca_sign(const struct stepca *ca, const char *csr_pem, const char *token,
		const char *not_after, char **chain_pem, struct error *err);

/* POST /1.0/renew authenticated by the current (still valid) certificate and its key. */
int stepca_renew(const struct stepca *ca, const char *cert_file, const char *key_file,
		 char **chain_pem, struct error *err);

/*
 * Parses a Go duration as step-ca reads claims ("17520h", "1h30m", "90s"; units ns us ms s m h,
 * no days) into seconds. Returns 0, or -EINVAL for anything time.ParseDuration would refuse.
 */
int stepca_duration_parse(const char *text, double *seconds);

#endif
