/*
 * step_token: a one-time token for step-ca's /1.0/sign, made on a cert-manager from the JWK
 * provisioner key in the CA's own ca.json, for exactly one subject and its SANs.
 *
 * Why (issue #11): the provisioner password opens a key that signs a token for ANY name, so it
 * stays on the cert-managers. The playbook runs this module there (delegate_to) for a node whose
 * certificate must be issued and hands the token to step_cert on the node: the node can use it
 * once, within 5 minutes, for the names it was made for. Renewals need no token (mTLS).
 *
 * The token is the result (`token`): the task must be no_log. Nothing is written; check mode
 * makes no token. `items` makes the tokens of all of a node's certificates in one exec
 * (module_items.c), one result per item in order.
 */
#include "fs.h"
#include "module.h"
#include "stepca.h"
#include "x509.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct option_spec options[] = {
    {.name = "path", .type = OPT_PATH, .def = "/etc/step-ca"},
    {.name = "provisioner", .type = OPT_STR, .def = "etcd-provisioner"},
    {.name = "provisioner_password", .type = OPT_STR, .required = true, .no_log = true},
    {.name = "ca_url", .type = OPT_LIST, .required = true, .url = true},
    {.name = "subject", .type = OPT_STR, .required = true},
    {.name = "sans", .type = OPT_LIST},
    {0},
};

/* The parsed ca.json of the CA at path (caller decrefs), or NULL after module_fail. */
static json_t *read_ca_config(struct module *m, const char *path)
{
	char file[PATH_MAX], *text = NULL;
	struct error err;
	json_t *config;
	size_t len = 0;

	if (snprintf(file, sizeof(file), "%s/config/ca.json", path) >= (int)sizeof(file)) {
		module_fail(m, "path: too long");
		return NULL;
	}
	if (fs_read_file(file, 4 * 1024 * 1024, &text, &len, &err) < 0) {
		module_fail(m, "path: no CA here: %s", err.msg);
		return NULL;
	}
	config = json_loadb(text, len, 0, NULL);
	free(text);
	if (!json_is_object(config)) {
		json_decref(config);
		module_fail(m, "path: %s is not JSON", file);
		return NULL;
	}
	return config;
}

/* The root's SHA-256 fingerprint (the token's "sha" claim), or NULL after module_fail. */
static char *root_fingerprint(struct module *m, const char *path)
{
	char file[PATH_MAX], *fingerprint;
	struct error err;
	X509 *root;

	snprintf(file, sizeof(file), "%s/certs/root_ca.crt", path);
	root = x509_read_pem(file, &err);
	fingerprint = root ? x509_fingerprint_sha256_hex(root) : NULL;
	X509_free(root);
	if (!fingerprint)
		module_fail(m, "path: cannot read the root certificate: %s", err.msg);
	return fingerprint;
}

static int run(struct module *m)
{
	const char *path = module_str(m, "path"), *name = module_str(m, "provisioner");
	size_t n_sans = module_list_size(m, "sans");
	const char **sans = calloc(n_sans ? n_sans : 1, sizeof(*sans));
	char *fingerprint = NULL, *kid = NULL, *token = NULL;
	EVP_PKEY *key = NULL;
	json_t *config = NULL;
	const json_t *provisioner;
	struct error err;
	int rc = -1;

	module_set_changed(m, false);
	if (!sans)
		return module_fail(m, "out of memory");
	for (size_t i = 0; i < n_sans; i++)
		sans[i] = module_list_str(m, "sans", i);
	if (!n_sans)
		sans[n_sans++] = module_str(m, "subject"); /* step's default: sans = [subject] */
	if (!(config = read_ca_config(m, path)) || !(fingerprint = root_fingerprint(m, path)))
		goto out;
	provisioner = stepca_config_provisioner(config, name);
	if (!provisioner) {
		module_fail(m, "provisioner: no JWK provisioner '%s' in %s/config/ca.json", name,
			    path);
		goto out;
	}
	if (stepca_provisioner_key(json_object_get(provisioner, "key"),
				   json_string_value(json_object_get(provisioner, "encryptedKey")),
				   module_str(m, "provisioner_password"), &key, &kid, &err) < 0) {
		module_fail(m, "provisioner_password: %s", err.msg);
		goto out;
	}
	if (!m->check_mode && stepca_sign_token(key, kid, name, module_list_str(m, "ca_url", 0),
						module_str(m, "subject"), sans, n_sans, fingerprint,
						&token, &err) < 0) {
		module_fail(m, "cannot make the token: %s", err.msg);
		goto out;
	}
	/* The point of this module: the token goes back to the play (whose task is no_log). */
	module_set_str(m, "token", token);
	module_set_str(m, "subject", module_str(m, "subject"));
	rc = 0;
out:
	EVP_PKEY_free(key);
	json_decref(config);
	free(sans);
	free(fingerprint);
	free(kid);
	free(token);
	return rc;
}

static const struct module_spec spec = {
    .name = "step_token",
    .options = options,
    .run = run,
    .items = true,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
