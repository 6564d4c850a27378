/*
 * step_ca: bootstrap a Smallstep CA that the real step-ca 0.19 serves unchanged.
 *
 * Layout as `step ca init` writes it under `path`: certs/root_ca.crt, certs/intermediate_ca.crt,
 * secrets/root_ca_key, secrets/intermediate_ca_key (encrypted with `password`),
 * secrets/password (for step-ca --password-file), config/ca.json with one JWK provisioner whose
 * private key is a JWE encrypted with `provisioner_password`, db/.
 *
 * An existing CA is never regenerated: keys are only created when absent, and only ca.json is
 * rewritten when its wanted content changes (durations, names, address), which the result
 * reports as restart_required. Formats: docs/stepca-formats.md.
 *
 * state=healthy waits for the step-ca of this CA to answer GET /health at `url`, its TLS chain
 * verified against this CA's root: the wait after a start or a restart, in one exec (it was
 * ansible.builtin.uri retried, a Python run per try).
 */
#include "clock.h"
#include "fs.h"
#include "jose.h"
#include "keys.h"
#include "module.h"
#include "stepca.h"
#include "wanted.h"
#include "x509.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const DB_TYPES[] = {"badgerv2", "bbolt", NULL};

static const struct option_spec options[] = {
    {.name = "state", .type = OPT_STR, .def = "present"}, /* choices: the states table below */
    {.name = "path", .type = OPT_PATH, .def = "/etc/step-ca"},
    {.name = "name", .type = OPT_STR, .def = "etcd"},
    {.name = "dns_names", .type = OPT_LIST},
    {.name = "address", .type = OPT_STR, .def = ":9000"},
    {.name = "provisioner", .type = OPT_STR, .def = "etcd-provisioner"},
    {.name = "password", .type = OPT_STR, .no_log = true},
    {.name = "provisioner_password", .type = OPT_STR, .no_log = true},
    {.name = "default_duration", .type = OPT_STR, .def = "17520h"},
    {.name = "max_duration", .type = OPT_STR, .def = "26280h"},
    {.name = "min_duration", .type = OPT_STR, .def = "1h"},
    {.name = "db_type", .type = OPT_STR, .def = "badgerv2", .choices = DB_TYPES},
    {.name = "root_days", .type = OPT_INT, .def = "3650"},
    {.name = "intermediate_days", .type = OPT_INT, .def = "3650"},
    /* TLS 1.2 suites of step-ca's own port; TLS 1.3 suites are all AEAD and not configurable. */
    {.name = "cipher_suites",
     .type = OPT_LIST,
     .def = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, "
	    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"},
    /* state=copied: another cert-manager's CA written here in one exec (replication, restore). */
    {.name = "directories", .type = OPT_LIST, .elements = OPT_DICT},
    /* Not no_log as a whole (its paths and owners would then be masked in every output):
     * hide_file_contents() makes each content a secret. */
    {.name = "files", .type = OPT_LIST, .elements = OPT_DICT},
    {.name = "backup", .type = OPT_BOOL, .def = "false"},
    /* state=healthy */
    {.name = "url", .type = OPT_STR, .url = true},
    {.name = "timeout", .type = OPT_INT, .def = "30"},
    {0},
};

struct ca_files {
	char root_crt[PATH_MAX], intermediate_crt[PATH_MAX];
	char root_key[PATH_MAX], intermediate_key[PATH_MAX], password[PATH_MAX];
	char config[PATH_MAX], db[PATH_MAX];
};

static int ca_files_init(struct ca_files *f, const char *path, const char *db_type)
{
	int n = 0;

	n |= snprintf(f->root_crt, PATH_MAX, "%s/certs/root_ca.crt", path) >= PATH_MAX;
	n |= snprintf(f->intermediate_crt, PATH_MAX, "%s/certs/intermediate_ca.crt", path) >=
	     PATH_MAX;
	n |= snprintf(f->root_key, PATH_MAX, "%s/secrets/root_ca_key", path) >= PATH_MAX;
	n |= snprintf(f->intermediate_key, PATH_MAX, "%s/secrets/intermediate_ca_key", path) >=
	     PATH_MAX;
	n |= snprintf(f->password, PATH_MAX, "%s/secrets/password", path) >= PATH_MAX;
	n |= snprintf(f->config, PATH_MAX, "%s/config/ca.json", path) >= PATH_MAX;
	/* badger wants a directory, bbolt a file (nosql.New). */
	n |= snprintf(f->db, PATH_MAX, strcmp(db_type, "bbolt") == 0 ? "%s/db/step.db" : "%s/db",
		      path) >= PATH_MAX;
	return n ? -1 : 0;
}

/* ---- validation ---------------------------------------------------------------------------- */

static int check_durations(struct module *m)
{
	static const char *const names[] = {"min_duration", "default_duration", "max_duration"};
	double seconds[3];

	for (int i = 0; i < 3; i++)
		if (stepca_duration_parse(module_str(m, names[i]), &seconds[i]) < 0 ||
		    seconds[i] <= 0)
			return module_fail(m,
					   "%s: '%s' is not a positive Go duration such as "
					   "\"17520h\" or \"90m\" (units h, m, s; no days)",
					   names[i], module_str(m, names[i]));
	if (seconds[0] > seconds[1] || seconds[1] > seconds[2])
		return module_fail(m, "durations must satisfy min_duration <= default_duration <= "
				      "max_duration (step-ca refuses to start otherwise)");
	return 0;
}

/* The suites step-ca 0.19 knows (authority/config/tls_options.go) that keep the policy. */
static bool tls_suite_is_aead_ecdhe(const char *name)
{
	static const char *const allowed[] = {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
					      "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
					      "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
					      "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
					      "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
					      "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
					      NULL};

	for (const char *const *a = allowed; *a; a++)
		if (strcmp(*a, name) == 0)
			return true;
	return false;
}

static int check_options(struct module *m)
{
	if (module_list_size(m, "dns_names") == 0)
		return module_fail(m, "dns_names must name at least one host name or IP of the CA");
	if (module_int(m, "root_days") < 1 || module_int(m, "intermediate_days") < 1)
		return module_fail(m, "root_days and intermediate_days must be at least 1");
	if (module_list_size(m, "cipher_suites") == 0)
		return module_fail(m, "cipher_suites must name at least one TLS 1.2 suite");
	for (size_t i = 0; i < module_list_size(m, "cipher_suites"); i++)
		if (!tls_suite_is_aead_ecdhe(module_list_str(m, "cipher_suites", i)))
			return module_fail(m,
					   "cipher_suites: '%s' is not a TLS 1.2 ECDHE suite with "
					   "AES-GCM or ChaCha20-Poly1305 (Go's name, e.g. "
					   "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)",
					   module_list_str(m, "cipher_suites", i));
	if (strlen(module_str(m, "password")) > KEY_PASSWORD_MAX)
		return module_fail(m, "password is longer than %d bytes", KEY_PASSWORD_MAX);
	return check_durations(m);
}

/* ---- the CA keys and certificates ---------------------------------------------------------- */

static int make_dirs(struct module *m, const char *path)
{
	static const struct {
		const char *sub;
		mode_t mode;
	} dirs[] = {
	    {"", 0755}, {"/certs", 0755}, {"/secrets", 0700}, {"/config", 0700}, {"/db", 0700}};
	char dir[PATH_MAX];
	struct error err;

	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(dir, sizeof(dir), "%s%s", path, dirs[i].sub);
		if (fs_mkdir_p(dir, dirs[i].mode, &err) < 0)
			return module_fail(m, "path: %s", err.msg);
	}
	return 0;
}

/* Creates root (if absent) and intermediate; keys 0400 encrypted with the CA password. */
static int create_ca(struct module *m, const struct ca_files *f, bool have_root)
{
	const char *name = module_str(m, "name"), *password = module_str(m, "password");
	EVP_PKEY *root_key = NULL, *int_key = NULL;
	X509 *root = NULL, *intermediate = NULL;
	struct error err;
	int rc = -1;

	if (have_root) {
		root = x509_read_pem(f->root_crt, &err);
		root_key = root ? key_read_pem(f->root_key, password, &err) : NULL;
	} else {
		root_key = key_generate(KEY_EC_P256, 0, &err);
		root = root_key
			   ? x509_make_root(root_key, name, (int)module_int(m, "root_days"), &err)
			   : NULL;
	}
	int_key = root ? key_generate(KEY_EC_P256, 0, &err) : NULL;
	intermediate = int_key
			   ? x509_make_intermediate(int_key, root, root_key, name,
						    (int)module_int(m, "intermediate_days"), &err)
			   : NULL;
	if (!intermediate) {
		module_fail(m, "cannot create the CA: %s", err.msg);
		goto out;
	}
	/* Keys first, certificates last: a certificate on disk always has its key beside it. */
	if ((!have_root && key_write_pem(f->root_key, root_key, password, 0400, 0, 0, &err) < 0) ||
	    key_write_pem(f->intermediate_key, int_key, password, 0400, 0, 0, &err) < 0 ||
	    x509_write_pem_atomic(f->intermediate_crt, &intermediate, 1, 0644, 0, 0, &err) < 0 ||
	    (!have_root && x509_write_pem_atomic(f->root_crt, &root, 1, 0644, 0, 0, &err) < 0)) {
		module_fail(m, "cannot write the CA: %s", err.msg);
		goto out;
	}
	rc = 0;
out:
	EVP_PKEY_free(root_key);
	EVP_PKEY_free(int_key);
	X509_free(root);
	X509_free(intermediate);
	return rc;
}

/* The password must open the existing intermediate key: a mismatch would stop step-ca later. */
static int check_existing_key(struct module *m, const struct ca_files *f)
{
	struct error err;
	EVP_PKEY *key = key_read_pem(f->intermediate_key, module_str(m, "password"), &err);

	if (!key)
		return module_fail(m,
				   "password: cannot open the existing intermediate key %s (%s); "
				   "the CA was created with another step_ca_password",
				   f->intermediate_key, err.msg);
	EVP_PKEY_free(key);
	return 0;
}

/* What exists decides what is created: nothing → all; root only → intermediate; else nothing. */
static int ensure_ca(struct module *m, const struct ca_files *f, bool *created)
{
	bool root = fs_exists(f->root_crt), root_key = fs_exists(f->root_key);
	bool intermediate = fs_exists(f->intermediate_crt) && fs_exists(f->intermediate_key);

	*created = false;
	if (root && intermediate)
		return check_existing_key(m, f);
	if (!root && (root_key || fs_exists(f->intermediate_key) || fs_exists(f->intermediate_crt)))
		return module_fail(m,
				   "path: %s is missing but other CA files exist; restore the CA "
				   "(playbooks/restore-ca.yaml) instead of creating a new one",
				   f->root_crt);
	if (root && !root_key)
		return module_fail(m,
				   "path: the intermediate CA is missing and %s is not there to "
				   "sign a new one",
				   f->root_key);
	*created = true;
	if (m->check_mode)
		return 0;
	return create_ca(m, f, root);
}

/* ---- the provisioner ----------------------------------------------------------------------- */

static json_t *read_config(const char *path)
{
	return json_load_file(path, 0, NULL);
}

/* The existing JWK provisioner called name in ca.json, or NULL. */
static json_t *existing_provisioner(const json_t *config, const char *name)
{
	json_t *p;
	size_t i;

	json_array_foreach(
	    json_object_get(json_object_get(config, "authority"), "provisioners"), i,
	    p) if (strcmp(json_string_value(json_object_get(p, "name")) ?: "", name) == 0 &&
		   strcasecmp(json_string_value(json_object_get(p, "type")) ?: "", "JWK") ==
		       0) return p;
	return NULL;
}

static int check_provisioner_password(struct module *m, const json_t *provisioner)
{
	const char *jwe = json_string_value(json_object_get(provisioner, "encryptedKey"));
	unsigned char *plain = NULL;
	size_t len = 0;
	struct error err;

	if (!jwe || jose_jwe_decrypt_pbes2(jwe, module_str(m, "provisioner_password"), &plain, &len,
					   &err) < 0)
		return module_fail(m,
				   "provisioner_password does not open the key of the existing "
				   "provisioner '%s' (%s)",
				   module_str(m, "provisioner"), jwe ? err.msg : "no encryptedKey");
	jose_secret_free(plain, len);
	return 0;
}

/* A new EC P-256 provisioner key: *public_jwk and *encrypted (JWE) as step ca init makes them. */
static int new_provisioner_key(struct module *m, json_t **public_jwk, char **encrypted)
{
	json_t *jwk = NULL, *private_jwk = NULL;
	EVP_PKEY *key = NULL;
	char *kid = NULL, *plain = NULL;
	struct error err;
	int rc = -1;

	key = key_generate(KEY_EC_P256, 0, &err);
	jwk = key ? jose_pkey_to_jwk(key, false, NULL, NULL, NULL, &err) : NULL;
	kid = jwk ? jose_jwk_thumbprint(jwk, &err) : NULL;
	*public_jwk = kid ? jose_pkey_to_jwk(key, false, kid, "sig", "ES256", &err) : NULL;
	private_jwk = *public_jwk ? jose_pkey_to_jwk(key, true, kid, "sig", "ES256", &err) : NULL;
	plain = private_jwk ? json_dumps(private_jwk, JSON_COMPACT) : NULL;
	if (!plain || jose_jwe_encrypt_pbes2((unsigned char *)plain, strlen(plain),
					     module_str(m, "provisioner_password"), "jwk+json",
					     encrypted, &err) < 0) {
		module_fail(m, "cannot create the provisioner key: %s", err.msg);
		goto out;
	}
	rc = 0;
out:
	if (plain)
		jose_secret_free(plain, strlen(plain));
	json_decref(jwk);
	json_decref(private_jwk);
	EVP_PKEY_free(key);
	free(kid);
	return rc;
}

/* ---- ca.json ------------------------------------------------------------------------------- */

static json_t *claims(const struct module *m)
{
	return json_pack(
	    "{s:s, s:s, s:s, s:b, s:b}", "minTLSCertDuration", module_str(m, "min_duration"),
	    "maxTLSCertDuration", module_str(m, "max_duration"), "defaultTLSCertDuration",
	    module_str(m, "default_duration"), "disableRenewal", 0, "allowRenewalAfterExpiry", 0);
}

static json_t *render_config(const struct module *m, const struct ca_files *f, json_t *public_jwk,
			     const char *encrypted)
{
	json_t *provisioner = json_pack("{s:s, s:s, s:O, s:s, s:o}", "type", "JWK", "name",
					module_str(m, "provisioner"), "key", public_jwk,
					"encryptedKey", encrypted, "claims", claims(m));

	return json_pack(
	    "{s:s, s:n, s:s, s:s, s:s, s:s, s:O, s:{s:s}, s:{s:s, s:s}, s:{s:[o], s:o}, "
	    "s:{s:O, s:f, s:f, s:b}}",
	    "root", f->root_crt, "federatedRoots", "crt", f->intermediate_crt, "key",
	    f->intermediate_key, "address", module_str(m, "address"), "insecureAddress", "",
	    "dnsNames", module_get(m, "dns_names"), "logger", "format", "text", "db", "type",
	    module_str(m, "db_type"), "dataSource", f->db, "authority", "provisioners", provisioner,
	    "claims", claims(m), "tls", "cipherSuites", module_get(m, "cipher_suites"),
	    "minVersion", 1.2, "maxVersion", 1.3, "renegotiation", 0);
}

/* Renders ca.json keeping the existing provisioner key; writes it when it differs. */
static int ensure_config(struct module *m, const struct ca_files *f, bool *config_changed)
{
	json_t *old = read_config(f->config), *existing, *public_jwk = NULL, *wanted = NULL;
	char *encrypted = NULL, *old_text = NULL, *new_text = NULL;
	struct error err;
	int rc = -1;

	existing = existing_provisioner(old, module_str(m, "provisioner"));
	if (existing) {
		if (check_provisioner_password(m, existing) < 0)
			goto out;
		public_jwk = json_incref(json_object_get(existing, "key"));
		encrypted = strdup(json_string_value(json_object_get(existing, "encryptedKey")));
	} else if (m->check_mode) {
		public_jwk = json_pack("{s:s}", "kid", "(created on apply)");
		encrypted = strdup("(created on apply)");
	} else if (new_provisioner_key(m, &public_jwk, &encrypted) < 0) {
		goto out;
	}
	wanted = render_config(m, f, public_jwk, encrypted);
	old_text = old ? json_dumps(old, JSON_INDENT(2)) : strdup("");
	new_text = wanted ? json_dumps(wanted, JSON_INDENT(2)) : NULL;
	if (!new_text || !old_text) {
		module_fail(m, "out of memory rendering ca.json");
		goto out;
	}
	*config_changed = strcmp(old_text, new_text) != 0;
	if (*config_changed) {
		module_add_diff(m, f->config, old_text, new_text);
		if (!m->check_mode &&
		    fs_write_atomic(f->config, new_text, strlen(new_text), 0600, 0, 0, &err) < 0) {
			module_fail(m, "cannot write ca.json: %s", err.msg);
			goto out;
		}
	}
	module_set(m, "provisioner",
		   json_pack("{s:s, s:O?}", "name", module_str(m, "provisioner"), "kid",
			     json_object_get(public_jwk, "kid")));
	rc = 0;
out:
	json_decref(old);
	json_decref(public_jwk);
	json_decref(wanted);
	free(encrypted);
	free(old_text);
	free(new_text);
	return rc;
}

/* secrets/password holds the CA password for step-ca --password-file (0400 root). */
static int ensure_password_file(struct module *m, const struct ca_files *f, bool *changed)
{
	const char *password = module_str(m, "password");
	char *current = NULL;
	size_t len = 0;
	struct error err;
	int rc = 0;

	*changed = fs_read_file(f->password, 64 * 1024, &current, &len, &err) < 0 ||
		   len != strlen(password) || memcmp(current, password, len) != 0;
	if (current)
		jose_secret_free(current, len);
	if (*changed && !m->check_mode) {
		fs_remove(f->password, &err); /* recreated 0400 from the first byte */
		rc = fs_write_atomic(f->password, password, strlen(password), 0400, 0, 0, &err);
		if (rc < 0)
			return module_fail(m, "cannot write %s: %s", f->password, err.msg);
	}
	return 0;
}

static void report_root(struct module *m, const struct ca_files *f)
{
	struct error err;
	X509 *root = x509_read_pem(f->root_crt, &err);
	char *fingerprint = root ? x509_fingerprint_sha256_hex(root) : NULL;
	char *pem = root ? x509_to_pem(root) : NULL;

	module_set_str(m, "root_fingerprint", fingerprint);
	module_set_str(m, "root_cert", pem);
	free(fingerprint);
	free(pem);
	X509_free(root);
}

static int run_present(struct module *m)
{
	const char *path = module_str(m, "path");
	bool created = false, config_changed = false, password_changed = false;
	struct ca_files f = {0};

	if (check_options(m) < 0)
		return -1;
	if (ca_files_init(&f, path, module_str(m, "db_type")) < 0)
		return module_fail(m, "path: '%s' is too long", path);
	if (!m->check_mode && make_dirs(m, path) < 0)
		return -1;
	if (ensure_ca(m, &f, &created) < 0 || ensure_password_file(m, &f, &password_changed) < 0 ||
	    ensure_config(m, &f, &config_changed) < 0)
		return -1;
	report_root(m, &f);
	module_set_bool(m, "created", created);
	module_set_str(m, "ca_config", f.config);
	module_set_str(m, "password_file", f.password);
	/* A running step-ca reads ca.json and the password only at start. */
	module_set_bool(m, "restart_required", !created && (config_changed || password_changed));
	module_set_changed(m, created || config_changed || password_changed);
	return 0;
}

/* ---- state=healthy: step-ca answers ------------------------------------------------------- */

/* How often the wait asks again, and how long one question may take. */
#define HEALTH_POLL_MS 250
#define HEALTH_REQUEST_MS 2000

static int run_healthy(struct module *m)
{
	const char *url = module_str(m, "url");
	long long timeout = module_int(m, "timeout");
	char root[PATH_MAX];
	struct stepca ca = {.url = url, .root_file = root, .timeout_ms = HEALTH_REQUEST_MS};
	struct timespec start, deadline;
	struct error err = {0};
	int tries = 0;

	module_set_changed(m, false);
	if (timeout < 0 || timeout > 3600)
		return module_fail(m, "timeout: 0 to 3600 seconds, got %lld", timeout);
	if (snprintf(root, sizeof(root), "%s/certs/root_ca.crt", module_str(m, "path")) >=
	    (int)sizeof(root))
		return module_fail(m, "path: too long");
	clock_gettime(CLOCK_MONOTONIC, &start);
	deadline_in(&deadline, (long)timeout);
	while (tries++, stepca_health(&ca, &err) < 0) {
		if (deadline_past(&deadline))
			return module_fail(
			    m,
			    "url: step-ca did not answer {\"status\": \"ok\"} at %s/health "
			    "within %lld s (%d tries): %s (is step-ca running? its unit's "
			    "journal on the host says why not)",
			    url, timeout, tries, err.msg);
		sleep_ms(HEALTH_POLL_MS);
	}
	module_set_str(m, "url", url);
	module_set_int(m, "tries", tries);
	module_set(m, "waited_seconds", json_real(seconds_since(&start)));
	module_set_msg(m, "step-ca answers at %s/health", url);
	return 0;
}

/* ---- state=copied: a CA read elsewhere, written here as it was ---------------------------- */

/* Every file of a CA is secret or next to one: the contents are all hidden, none is diffed. */
static int run_copied(struct module *m)
{
	const struct wanted_how how = {
	    .base = module_str(m, "path"),
	    .base64 = true,
	    .all_secret = true,
	    .keep_tag = module_bool(m, "backup") ? "replaced" : NULL,
	};

	return wanted_apply(m, &how);
}

/* Runs first for every state: the files' contents (keys, the CA password) never reach an output,
 * the invocation's echo of the args included. */
static int hide_file_contents(struct module *m)
{
	wanted_hide_secrets(m, true);
	return 0;
}

static const char *const PRESENT_NEEDS[] = {"dns_names", "password", "provisioner_password", NULL};
static const char *const COPIED_NEEDS[] = {"files", NULL};
static const char *const HEALTHY_NEEDS[] = {"url", NULL};

static const struct option_rule rules[] = {
    {.option = "state", .value = "present", .requires = PRESENT_NEEDS},
    {.option = "state", .value = "copied", .requires = COPIED_NEEDS},
    {.option = "state", .value = "healthy", .requires = HEALTHY_NEEDS},
    {0},
};

/* present: the CA is made once and kept. copied: a CA from elsewhere, written as it was.
 * healthy: its step-ca answers. */
static const struct state_handler states[] = {
    {"present", run_present},
    {"copied", run_copied},
    {"healthy", run_healthy},
    {0},
};

static const struct module_spec spec = {
    .name = "step_ca",
    .options = options,
    .rules = rules,
    .states = states,
    .before = hide_file_contents,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
