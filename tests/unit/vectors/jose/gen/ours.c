/*
 * ours: prints what etcd-ansible's jose code produces for a JWK provisioner, for gen.go -check to
 * hand to step-ca's own code: a new P-256 key, its JWK encrypted as step's encryptedKey, the
 * public JWK with its thumbprint as kid, and a one-time token signed as step signs one
 * (certificates ca/provisioner.go Token: header alg/kid/typ, claims aud exp iat iss jti nbf sans
 * sub, 5 minutes).
 */
#include "jose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PASSWORD "etcd-ansible provisioner password"
#define NAME "etcd-ansible"
#define AUDIENCE "https://ca.example.com:9000/1.0/sign"
#define SUBJECT "node1.example.com"

static void die(const char *what, const struct error *err)
{
	fprintf(stderr, "ours: %s: %s\n", what, err ? err->msg : "failed");
	exit(1);
}

/* The private JWK encrypted, and the public JWK, both with kid = thumbprint. */
static char *encrypted_key(EVP_PKEY *key, json_t **public_jwk, char **kid)
{
	struct error err;
	json_t *jwk = jose_pkey_to_jwk(key, false, NULL, "sig", "ES256", &err);
	char *compact, *plain;

	if (!jwk || !(*kid = jose_jwk_thumbprint(jwk, &err)))
		die("thumbprint", &err);
	json_decref(jwk);
	jwk = jose_pkey_to_jwk(key, true, *kid, "sig", "ES256", &err);
	*public_jwk = jose_pkey_to_jwk(key, false, *kid, "sig", "ES256", &err);
	if (!jwk || !*public_jwk)
		die("jwk", &err);
	plain = json_dumps(jwk, JSON_COMPACT);
	if (jose_jwe_encrypt_pbes2((unsigned char *)plain, strlen(plain), PASSWORD, "jwk+json",
				   &compact, &err) < 0)
		die("encrypt", &err);
	jose_secret_free(plain, strlen(plain));
	json_decref(jwk);
	return compact;
}

static char *token(EVP_PKEY *key, const char *kid)
{
	long long now = (long long)time(NULL);
	char *jti = jose_random_jti(), *compact = NULL;
	json_t *header = json_pack("{s:s, s:s, s:s}", "alg", "ES256", "kid", kid, "typ", "JWT");
	json_t *claims = json_pack("{s:s, s:I, s:I, s:s, s:s, s:I, s:[s], s:s}", "aud", AUDIENCE,
				   "exp", now + 300, "iat", now, "iss", NAME, "jti", jti, "nbf",
				   now, "sans", SUBJECT, "sub", SUBJECT);
	struct error err;

	if (!jti || !header || !claims || jose_jws_sign_es256(key, header, claims, &compact, &err))
		die("token", &err);
	free(jti);
	json_decref(header);
	json_decref(claims);
	return compact;
}

int main(void)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	json_t *public_jwk = NULL, *out;
	char *kid = NULL, *compact, *tok;

	if (!key)
		die("keygen", NULL);
	compact = encrypted_key(key, &public_jwk, &kid);
	tok = token(key, kid);
	out = json_pack("{s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "password", PASSWORD,
			"encrypted_key", compact, "public_jwk", public_jwk, "kid", kid, "name",
			NAME, "audience", AUDIENCE, "token", tok);
	json_dumpf(out, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(out);
	free(compact);
	free(tok);
	free(kid);
	EVP_PKEY_free(key);
	return 0;
}
