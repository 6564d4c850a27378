/*
 * step_cert: make sure a certificate and its key exist, chain to the CA root, carry the wanted
 * subject and SANs and are not past their renewal point; otherwise issue one (local key, CSR,
 * one-time token from the JWK provisioner, POST /1.0/sign) or renew it (POST /1.0/renew over
 * mTLS with the current pair). The private key never leaves the host.
 *
 * Also the renewal job: systemd runs `step_cert ARGS_FILE` from a timer; when nothing is due it
 * prints changed=false and exits 0. With `metrics`, every run writes the certificate's metrics
 * (module_utils/metrics.c): validity, renewal due time, last attempt and its result, and whether
 * the server at serving_url presents the file on disk.
 *
 * state=inspected only reads: what `step certificate inspect` would show (subject, SANs, issuer,
 * serial, validity, renewal due time, key type), the chain checked against root when given, and
 * the served-matches-disk check; nodes need no step CLI.
 *
 * Writing: the key (0400, owner) is written before the certificate and kept when it still fits,
 * so a renewal replaces the certificate alone, atomically: a node is never without a valid pair.
 */
#include "fs.h"
#include "http.h"
#include "jose.h"
#include "keys.h"
#include "metrics.h"
#include "module.h"
#include "stepca.h"
#include "x509.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct option_spec options[] = {
    {.name = "ca_url", .type = OPT_LIST, .url = true},
    {.name = "root", .type = OPT_PATH},
    {.name = "root_fingerprint", .type = OPT_STR},
    {.name = "provisioner", .type = OPT_STR, .def = "etcd-provisioner"},
    {.name = "provisioner_password", .type = OPT_STR, .no_log = true},
    {.name = "provisioner_password_file", .type = OPT_PATH},
    {.name = "token", .type = OPT_STR, .no_log = true},
    {.name = "reissue_hint", .type = OPT_STR},
    {.name = "subject", .type = OPT_STR},
    {.name = "sans", .type = OPT_LIST},
    {.name = "cert_path", .type = OPT_PATH, .required = true},
    {.name = "key_path", .type = OPT_PATH},
    {.name = "key_type", .type = OPT_STR, .def = "EC"},
    {.name = "duration", .type = OPT_STR},
    {.name = "renew_fraction", .type = OPT_STR, .def = "0.6667"},
    {.name = "owner", .type = OPT_STR},
    {.name = "group", .type = OPT_STR},
    {.name = "state", .type = OPT_STR, .def = "present"},
    {.name = "force", .type = OPT_BOOL, .def = "false"},
    {.name = "timeout", .type = OPT_INT, .def = "30"},
    {.name = "serving_url", .type = OPT_STR, .url = true},
    {.name = "metrics", .type = OPT_DICT},
    {.name = "job_args_file", .type = OPT_PATH},
    {.name = "job_options", .type = OPT_DICT},
    {0},
};

enum action { ACTION_NONE, ACTION_RENEW, ACTION_ISSUE };

static const char *const ACTION_NAMES[] = {"none", "renewed", "issued"};

/* What is on disk now, and what the wanted certificate looks like. */
struct cert_state {
	const char **sans;
	size_t n_sans;
	enum key_type key_type;
	int rsa_bits;
	double renew_fraction;
	X509 *root;
	EVP_PKEY *key; /* the current key, when readable and of the wanted type */
	X509 *cert;
	STACK_OF(X509) * chain; /* the certificate file: leaf first */
	struct cert_info info;
	bool have_info;
	const char *reason; /* why the action was chosen */
};

static void cert_state_free(struct cert_state *s)
{
	free(s->sans);
	X509_free(s->root);
	EVP_PKEY_free(s->key);
	x509_chain_free(s->chain);
	if (s->have_info)
		cert_info_free(&s->info);
}

/* ---- options ------------------------------------------------------------------------------- */

static int read_wanted_sans(struct module *m, struct cert_state *s)
{
	size_t n = module_list_size(m, "sans");

	s->n_sans = n ? n : 1;
	s->sans = calloc(s->n_sans, sizeof(*s->sans));
	if (!s->sans)
		return module_fail(m, "out of memory");
	for (size_t i = 0; i < n; i++)
		s->sans[i] = module_list_str(m, "sans", i);
	if (!n)
		s->sans[0] = module_str(m, "subject"); /* step's default: sans = [subject] */
	return 0;
}

static int check_root(struct module *m, struct cert_state *s)
{
	const char *wanted = module_str(m, "root_fingerprint");
	struct error err;
	char *fingerprint;

	s->root = x509_read_pem(module_str(m, "root"), &err);
	if (!s->root)
		return module_fail(m, "root: %s", err.msg);
	if (!wanted)
		return 0;
	fingerprint = x509_fingerprint_sha256_hex(s->root);
	if (!fingerprint || strcasecmp(fingerprint, wanted) != 0) {
		module_fail(m, "root_fingerprint: %s has fingerprint %s, not %s",
			    module_str(m, "root"), fingerprint ? fingerprint : "?", wanted);
		free(fingerprint);
		return -1;
	}
	free(fingerprint);
	return 0;
}

static int read_options(struct module *m, struct cert_state *s)
{
	const char *fraction = module_str(m, "renew_fraction");
	struct error err;
	char *end;

	if (module_list_size(m, "ca_url") == 0)
		return module_fail(m, "ca_url must name at least one CA URL");
	for (size_t i = 0; i < module_list_size(m, "ca_url"); i++)
		if (strncmp(module_list_str(m, "ca_url", i), "https://", 8) != 0)
			return module_fail(m, "ca_url must start with https://, got '%s'",
					   module_list_str(m, "ca_url", i));
	s->renew_fraction = strtod(fraction, &end);
	if (*end || s->renew_fraction <= 0 || s->renew_fraction >= 1)
		return module_fail(m,
				   "renew_fraction must be a number between 0 and 1 (e.g. 0.6667), "
				   "got '%s'",
				   fraction);
	if (key_type_parse(module_str(m, "key_type"), &s->key_type, &s->rsa_bits, &err) < 0)
		return module_fail(m, "key_type: %s", err.msg);
	if (module_has(m, "duration")) {
		double seconds;

		if (stepca_duration_parse(module_str(m, "duration"), &seconds) < 0 || seconds <= 0)
			return module_fail(m,
					   "duration: '%s' is not a Go duration such as \"17520h\"",
					   module_str(m, "duration"));
	}
	if (module_int(m, "timeout") < 1)
		return module_fail(m, "timeout must be at least 1 second");
	if (read_wanted_sans(m, s) < 0)
		return -1;
	return check_root(m, s);
}

/* The provisioner password from the option or its file (trailing white space trimmed). */
static char *provisioner_password(struct module *m)
{
	const char *file = module_str(m, "provisioner_password_file");
	char *text = NULL;
	size_t len = 0;
	struct error err;

	if (module_has(m, "provisioner_password"))
		return strdup(module_str(m, "provisioner_password"));
	if (!file) {
		module_fail(m, "a new certificate must be issued, which needs provisioner_password "
			       "or provisioner_password_file");
		return NULL;
	}
	if (fs_read_file(file, 64 * 1024, &text, &len, &err) < 0) {
		module_fail(m, "provisioner_password_file: %s", err.msg);
		return NULL;
	}
	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	module_add_secret(m, text);
	return text;
}

/* ---- deciding ------------------------------------------------------------------------------ */

/* Loads the current pair; returns the action it calls for and sets s->reason. */
static enum action inspect_current(struct module *m, struct cert_state *s)
{
	const char *cert_path = module_str(m, "cert_path"), *key_path = module_str(m, "key_path");
	struct error err;
	time_t now = time(NULL);

	s->chain = fs_exists(cert_path) ? x509_read_pem_chain(cert_path, &err) : NULL;
	s->key = fs_exists(key_path) ? key_read_pem(key_path, NULL, &err) : NULL;
	if (s->key && !key_is_type(s->key, s->key_type, s->rsa_bits)) {
		EVP_PKEY_free(s->key);
		s->key = NULL; /* a new key of the wanted type */
		s->reason = "the key type changed";
		return ACTION_ISSUE;
	}
	if (!s->chain || sk_X509_num(s->chain) == 0)
		return s->reason = "no certificate yet", ACTION_ISSUE;
	s->cert = sk_X509_value(s->chain, 0);
	if (x509_inspect(s->cert, &s->info, &err) < 0)
		return s->reason = "the certificate cannot be read", ACTION_ISSUE;
	s->have_info = true;
	if (!s->key || !key_matches_cert(s->key, s->cert)) {
		EVP_PKEY_free(s->key);
		s->key = NULL;
		return s->reason = "the key does not match the certificate", ACTION_ISSUE;
	}
	if (x509_verify_chain(s->cert, s->chain, s->root, now, &err) < 0)
		return s->reason = now > s->info.not_after
				       ? "the certificate has expired"
				       : "the certificate does not chain to root",
		       ACTION_ISSUE;
	if (strcmp(s->info.subject_cn, module_str(m, "subject")) != 0)
		return s->reason = "the subject changed", ACTION_ISSUE;
	if (!x509_sans_equal(&s->info, s->sans, s->n_sans))
		return s->reason = "the SANs changed", ACTION_ISSUE;
	if (module_bool(m, "force"))
		return s->reason = "force", ACTION_ISSUE;
	if (strcmp(module_str(m, "state"), "renewed") == 0)
		return s->reason = "state=renewed", ACTION_RENEW;
	if (now >= x509_renewal_point(&s->info, s->renew_fraction))
		return s->reason = "past the renewal point", ACTION_RENEW;
	return s->reason = "valid", ACTION_NONE;
}

/* ---- talking to the CA --------------------------------------------------------------------- */

static int decrypt_provisioner_key(struct module *m, const struct stepca *ca, EVP_PKEY **key,
				   char **kid)
{
	char *password = provisioner_password(m), *encrypted = NULL;
	json_t *public_jwk = NULL;
	struct error err;
	int rc = -1;

	*key = NULL;
	if (!password)
		return -1;
	if (stepca_provisioner(ca, module_str(m, "provisioner"), &public_jwk, &encrypted, &err) <
	    0) {
		module_fail(m, "provisioner: %s", err.msg);
		goto out;
	}
	if (stepca_provisioner_key(public_jwk, encrypted, password, key, kid, &err) < 0) {
		module_fail(m, "provisioner_password: cannot use the key of provisioner '%s': %s",
			    module_str(m, "provisioner"), err.msg);
		goto out;
	}
	rc = 0;
out:
	jose_secret_free(password, strlen(password));
	json_decref(public_jwk);
	free(encrypted);
	return rc;
}

/* True when this run can issue: a token from the playbook, or the provisioner password. */
static bool can_issue(struct module *m)
{
	return module_has(m, "token") || module_has(m, "provisioner_password") ||
	       module_has(m, "provisioner_password_file");
}

/*
 * Why a renewal job cannot go on: renewal is mTLS with the current pair, and a new certificate
 * needs a one-time token that only the playbook (on a cert-manager) makes (issue #11).
 */
static int fail_needs_issue(struct module *m, const char *why)
{
	const char *hint = module_str(m, "reissue_hint");

	return module_fail(m,
			   "%s: a new certificate must be issued, which renewal over mTLS cannot "
			   "do and this host holds no provisioner credential for; %s",
			   why, hint ? hint : "rerun the playbook for this host to issue it");
}

/*
 * A new certificate through /1.0/sign for s->key (made here when absent), with the token given
 * or one made from the provisioner key. -EIO (err filled, nothing failed) when the CA did not
 * answer, so that the caller can ask the next one.
 */
static int issue(struct module *m, const struct stepca *ca, struct cert_state *s, char **chain_pem,
		 struct error *err)
{
	EVP_PKEY *provisioner_key = NULL;
	X509_REQ *csr = NULL;
	char *kid = NULL, *token = NULL, *csr_pem = NULL, *fingerprint = NULL;
	int rc = -1;

	if (!s->key && !(s->key = key_generate(s->key_type, s->rsa_bits, err))) {
		module_fail(m, "key_type: %s", err->msg);
		goto out;
	}
	csr = x509_csr_new(s->key, module_str(m, "subject"), s->sans, s->n_sans, err);
	csr_pem = csr ? x509_csr_pem(csr) : NULL;
	if (!csr_pem) {
		module_fail(m, "cannot prepare the certificate request: %s", err->msg);
		goto out;
	}
	if (module_has(m, "token")) {
		token = strdup(module_str(m, "token"));
	} else {
		if (decrypt_provisioner_key(m, ca, &provisioner_key, &kid) < 0)
			goto out;
		fingerprint = x509_fingerprint_sha256_hex(s->root);
		if (stepca_sign_token(provisioner_key, kid, module_str(m, "provisioner"), ca->url,
				      module_str(m, "subject"), s->sans, s->n_sans, fingerprint,
				      &token, err) < 0) {
			module_fail(m, "cannot make the one-time token: %s", err->msg);
			goto out;
		}
	}
	module_add_secret(m, token);
	rc = stepca_sign(ca, csr_pem, token, module_str(m, "duration"), chain_pem, err);
	if (rc < 0 && rc != -EIO)
		module_fail(m, "the CA refused to sign: %s", err->msg);
out:
	EVP_PKEY_free(provisioner_key);
	X509_REQ_free(csr);
	if (token)
		jose_secret_free(token, strlen(token));
	free(kid);
	free(csr_pem);
	free(fingerprint);
	return rc;
}

/* ---- checking and writing the result ------------------------------------------------------- */

static int check_issued(struct module *m, struct cert_state *s, STACK_OF(X509) * chain)
{
	X509 *leaf = sk_X509_value(chain, 0);
	struct cert_info info;
	struct error err;
	int rc = 0;

	if (x509_verify_chain(leaf, chain, s->root, 0, &err) < 0)
		return module_fail(
		    m, "the CA returned a certificate that does not chain to root: %s", err.msg);
	if (!key_matches_cert(s->key, leaf))
		return module_fail(m, "the CA returned a certificate for another key");
	if (x509_inspect(leaf, &info, &err) < 0)
		return module_fail(m, "cannot read the new certificate: %s", err.msg);
	if (!x509_sans_equal(&info, s->sans, s->n_sans))
		rc = module_fail(m, "the CA returned a certificate with other SANs than asked for");
	cert_info_free(&info);
	return rc;
}

static int write_pair(struct module *m, struct cert_state *s, const char *chain_pem, bool new_key)
{
	uid_t uid;
	gid_t gid;
	struct error err;

	if (fs_resolve_owner(module_str(m, "owner"), module_str(m, "group"), &uid, &gid, &err) < 0)
		return module_fail(m, "owner/group: %s", err.msg);
	/* Key first: the certificate on disk must never name a key that is not there yet. */
	if (new_key &&
	    key_write_pem(module_str(m, "key_path"), s->key, NULL, 0400, uid, gid, &err) < 0)
		return module_fail(m, "key_path: %s", err.msg);
	if (fs_write_atomic(module_str(m, "cert_path"), chain_pem, strlen(chain_pem), 0644, uid,
			    gid, &err) < 0)
		return module_fail(m, "cert_path: %s", err.msg);
	return 0;
}

/* Renews or issues at one CA; -EIO (nothing failed) when it did not answer. */
static int ask_ca(struct module *m, const struct stepca *ca, struct cert_state *s,
		  enum action *action, char **chain_pem, struct error *err)
{
	if (*action == ACTION_RENEW) {
		int rc = stepca_renew(ca, module_str(m, "cert_path"), module_str(m, "key_path"),
				      chain_pem, err);

		if (rc == 0 || rc == -EIO)
			return rc;
		/* Only a refusal by the CA is worth a fresh issue. */
		if (rc != -EPROTO)
			return module_fail(m, "cannot renew: %s (the current certificate is kept)",
					   err->msg);
		if (!can_issue(m))
			return fail_needs_issue(m, err->msg);
		module_warn(m, "renewal refused (%s); issuing a new certificate instead", err->msg);
		*action = ACTION_ISSUE;
	}
	return issue(m, ca, s, chain_pem, err);
}

/* Asks each CA of ca_url in turn; the first that answers decides (renewal fail-over). */
static int obtain(struct module *m, struct cert_state *s, enum action *action)
{
	struct stepca ca = {.root_file = module_str(m, "root"),
			    .timeout_ms = module_int(m, "timeout") * 1000L};
	size_t n = module_list_size(m, "ca_url");
	bool new_key = s->key == NULL;
	STACK_OF(X509) *chain = NULL;
	char *chain_pem = NULL;
	struct error err;
	int rc = -EIO;

	if (*action == ACTION_ISSUE && !can_issue(m))
		return fail_needs_issue(m, s->reason);
	for (size_t i = 0; i < n && rc == -EIO; i++) {
		ca.url = module_list_str(m, "ca_url", i);
		rc = ask_ca(m, &ca, s, action, &chain_pem, &err);
		if (rc == -EIO)
			module_note(m, "CA %s did not answer: %s", ca.url, err.msg);
		else if (rc == 0)
			module_set_str(m, "ca_url_used", ca.url);
	}
	if (rc == -EIO)
		module_fail(m,
			    "no CA of ca_url answered (last: %s); the current certificate is kept",
			    err.msg);
	if (rc < 0)
		goto out;
	rc = -1;
	chain = x509_chain_from_pem(chain_pem, strlen(chain_pem), &err);
	if (!chain) {
		module_fail(m, "the CA answered with an unreadable certificate: %s", err.msg);
		goto out;
	}
	if (check_issued(m, s, chain) < 0 || write_pair(m, s, chain_pem, new_key) < 0)
		goto out;
	rc = 0;
out:
	x509_chain_free(chain);
	free(chain_pem);
	return rc;
}

/* ---- reporting ----------------------------------------------------------------------------- */

static char *describe(const struct cert_info *info)
{
	char nb[32], na[32], *text = NULL, sans[2048] = "";
	size_t used = 0;

	for (size_t i = 0; info && i < info->n_sans && used < sizeof(sans); i++)
		used += (size_t)snprintf(sans + used, sizeof(sans) - used, "%s%s", i ? ", " : "",
					 info->sans[i].value);
	if (!info)
		return strdup("");
	if (asprintf(&text, "subject: %s\nsans: %s\nserial: %s\nnot_before: %s\nnot_after: %s\n",
		     info->subject_cn, sans, info->serial,
		     module_format_time(info->not_before, nb, sizeof(nb)),
		     module_format_time(info->not_after, na, sizeof(na))) < 0)
		return NULL;
	return text;
}

/* What a certificate says, as the result reports it (present, renewed and inspected alike). */
static void set_cert_fields(struct module *m, const struct cert_info *info, double renew_fraction)
{
	json_t *sans = json_array();

	for (size_t i = 0; i < info->n_sans; i++)
		json_array_append_new(sans, json_string(info->sans[i].value));
	module_set_str(m, "serial", info->serial);
	module_set_str(m, "subject", info->subject_cn);
	module_set_str(m, "issuer", info->issuer_cn);
	module_set(m, "sans", sans);
	module_set_time(m, "not_before", info->not_before);
	module_set_time(m, "not_after", info->not_after);
	module_set_time(m, "renewal_point", x509_renewal_point(info, renew_fraction));
	module_set_str(m, "fingerprint", info->fingerprint_sha256);
	module_set_str(m, "key_type", info->key_type);
}

static void report(struct module *m, struct cert_state *s, const char *before)
{
	struct error err;
	STACK_OF(X509) *chain = x509_read_pem_chain(module_str(m, "cert_path"), &err);
	struct cert_info info;
	char *after;

	if (!chain || x509_inspect(sk_X509_value(chain, 0), &info, &err) < 0) {
		x509_chain_free(chain);
		return;
	}
	set_cert_fields(m, &info, s->renew_fraction);
	after = describe(&info);
	if (module_changed(m))
		module_add_diff(m, module_str(m, "cert_path"), before, after);
	free(after);
	cert_info_free(&info);
	x509_chain_free(chain);
}

/*
 * Drift check: the certificate a server (etcd) actually presents at serving_url must be the one
 * on disk. etcd reads rotated files on new handshakes, so after a renewal they match; a mismatch
 * means the server kept an old certificate (or reads another file) and is reported, not fatal.
 */
static void check_served(struct module *m)
{
	struct http_tls tls = {.ca_file = module_str(m, "root"),
			       .cert_file = module_str(m, "cert_path"),
			       .key_file = module_str(m, "key_path")};
	const char *url = module_str(m, "serving_url");
	const char *on_disk = json_string_value(json_object_get(m->result, "fingerprint"));
	STACK_OF(X509) *chain = NULL;
	char *pem = NULL, *served = NULL;
	struct error err;

	if (http_served_certificate(url, &tls, &pem, &err) < 0) {
		module_warn(m, "serving_url: cannot read the certificate served there: %s",
			    err.msg);
		return;
	}
	chain = x509_chain_from_pem(pem, strlen(pem), &err);
	served = chain ? x509_fingerprint_sha256_hex(sk_X509_value(chain, 0)) : NULL;
	module_set_str(m, "served_fingerprint", served);
	module_set_bool(m, "served_matches", served && on_disk && strcmp(served, on_disk) == 0);
	if (served && on_disk && strcmp(served, on_disk) != 0)
		module_warn(m,
			    "drift: %s serves certificate sha256 %s, but %s holds sha256 %s; the "
			    "server has not picked up the file (restart it if this persists)",
			    url, served, module_str(m, "cert_path"), on_disk);
	x509_chain_free(chain);
	free(pem);
	free(served);
}

static int remove_pair(struct module *m)
{
	struct error err;
	int cert, key;

	/* Check mode only predicts: nothing may be removed before this. */
	if (m->check_mode) {
		module_set_changed(m, fs_exists(module_str(m, "cert_path")) ||
					  fs_exists(module_str(m, "key_path")));
		return 0;
	}
	cert = fs_remove(module_str(m, "cert_path"), &err);
	key = cert < 0 ? cert : fs_remove(module_str(m, "key_path"), &err);
	if (cert < 0 || key < 0)
		return module_fail(m, "%s", err.msg);
	module_set_str(m, "action", cert || key ? "removed" : "none");
	module_set_changed(m, cert || key);
	return 0;
}

/* present and renewed: decide, obtain when needed, report. s is the caller's to free. */
static int run_present(struct module *m, struct cert_state *s, enum action *action)
{
	char *before = NULL;
	int rc = -1;

	if (read_options(m, s) < 0)
		goto out;
	*action = inspect_current(m, s);
	before = describe(s->have_info ? &s->info : NULL);
	module_set_str(m, "reason", s->reason);
	if (*action != ACTION_NONE && !m->check_mode && obtain(m, s, action) < 0)
		goto out;
	module_set_str(m, "action", ACTION_NAMES[*action]);
	module_set_changed(m, *action != ACTION_NONE);
	if (!m->check_mode)
		report(m, s, before);
	if (!m->check_mode && module_has(m, "serving_url"))
		check_served(m);
	else if (*action != ACTION_NONE)
		module_add_diff(m, module_str(m, "cert_path"), before, "(a new certificate)\n");
	rc = 0;
out:
	free(before);
	return rc;
}

/* ---- metrics and inspection ---------------------------------------------------------------- */

/* The certificate's metrics, from the file on disk now: the old one when this run failed. */
static void write_metrics(struct module *m, const struct metrics_config *cfg, double fraction,
			  bool ok, bool replaced)
{
	const json_t *served = json_object_get(m->result, "served_matches");
	struct metrics *mx = metrics_new(cfg, "cert");
	STACK_OF(X509) *chain = NULL;
	struct cert_info info = {0};
	double last = 0;
	time_t now = time(NULL);
	struct error err;

	if (!mx)
		return module_warn(m, "metrics: out of memory");
	chain = x509_read_pem_chain(module_str(m, "cert_path"), &err);
	if (chain && x509_inspect(sk_X509_value(chain, 0), &info, &err) == 0) {
		metrics_gauge(mx, "cert_not_before_timestamp_seconds",
			      "Start of the certificate's validity (Unix time).",
			      (double)info.not_before);
		metrics_gauge(mx, "cert_not_after_timestamp_seconds",
			      "End of the certificate's validity (Unix time).",
			      (double)info.not_after);
		if (fraction > 0)
			metrics_gauge(mx, "cert_renewal_due_timestamp_seconds",
				      "When the renewal job renews the certificate (Unix time).",
				      (double)x509_renewal_point(&info, fraction));
	}
	if (chain)
		cert_info_free(&info);
	x509_chain_free(chain);
	metrics_gauge(mx, "cert_renewal_last_attempt_timestamp_seconds",
		      "Last run of the renewal job: check, and renewal when due (Unix time).",
		      (double)now);
	metrics_gauge(mx, "cert_renewal_last_attempt_success",
		      "1 when the last run of the renewal job succeeded, 0 when it failed.", ok);
	if (replaced)
		last = (double)now;
	else if (metrics_previous(mx, "cert_last_renewal_timestamp_seconds", &last) < 0)
		last = 0;
	if (last > 0)
		metrics_gauge(mx, "cert_last_renewal_timestamp_seconds",
			      "Last time the job replaced the certificate (Unix time).", last);
	if (json_is_boolean(served))
		metrics_gauge(mx, "cert_served_matches",
			      "1 when the server presents the certificate on disk, 0 when it "
			      "still serves another one.",
			      json_is_true(served));
	if (metrics_commit(mx, &err) < 0)
		module_warn(m, "%s", err.msg);
	metrics_free(mx);
}

/* state=inspected: read the certificate, change nothing. */
static int run_inspected(struct module *m)
{
	const char *cert_path = module_str(m, "cert_path"),
		   *fraction = module_str(m, "renew_fraction");
	STACK_OF(X509) *chain = NULL;
	struct cert_info info = {0};
	X509 *root = NULL;
	EVP_PKEY *key = NULL;
	bool have_info = false;
	double renew_fraction;
	struct error err;
	char *end;
	int rc = -1;

	module_set_changed(m, false);
	renew_fraction = strtod(fraction, &end);
	if (*end || renew_fraction <= 0 || renew_fraction >= 1)
		return module_fail(m, "renew_fraction must be a number between 0 and 1, got '%s'",
				   fraction);
	chain = x509_read_pem_chain(cert_path, &err);
	if (!chain) {
		module_fail(m, "cert_path: %s", err.msg);
		goto out;
	}
	have_info = true;
	if (x509_inspect(sk_X509_value(chain, 0), &info, &err) < 0) {
		module_fail(m, "cert_path: %s", err.msg);
		goto out;
	}
	set_cert_fields(m, &info, renew_fraction);
	module_set_int(m, "chain_length", sk_X509_num(chain));
	module_set_bool(m, "expired", time(NULL) > info.not_after);
	if (module_has(m, "root")) {
		root = x509_read_pem(module_str(m, "root"), &err);
		if (!root) {
			module_fail(m, "root: %s", err.msg);
			goto out;
		}
		module_set_bool(m, "chain_valid",
				x509_verify_chain(sk_X509_value(chain, 0), chain, root, 0, &err) ==
				    0);
		if (!json_is_true(json_object_get(m->result, "chain_valid")))
			module_set_str(m, "chain_error", err.msg);
	}
	if (module_has(m, "key_path") && fs_exists(module_str(m, "key_path"))) {
		key = key_read_pem(module_str(m, "key_path"), NULL, &err);
		module_set_bool(m, "key_matches",
				key && key_matches_cert(key, sk_X509_value(chain, 0)));
	}
	if (module_has(m, "serving_url"))
		check_served(m);
	rc = 0;
out:
	if (have_info)
		cert_info_free(&info);
	EVP_PKEY_free(key);
	X509_free(root);
	x509_chain_free(chain);
	return rc;
}

/* What the renewal job (`step_cert ARGS_FILE` from a timer) is given: this call's certificate
 * options, never a token or a password (renewal is mTLS with the pair on disk)... */
static const char *const JOB_CERT_OPTIONS[] = {"ca_url",      "root",	      "root_fingerprint",
					       "provisioner", "reissue_hint", "subject",
					       "sans",	      "cert_path",    "key_path",
					       "key_type",    "duration",     "renew_fraction",
					       "owner",	      "group",	      NULL};
/* ...and, from job_options, these too: the job's own, which this call neither uses nor probes. */
static const char *const JOB_ONLY_OPTIONS[] = {"timeout", "serving_url", "metrics", NULL};

static bool listed(const char *const *names, const char *name)
{
	for (const char *const *n = names; *n; n++)
		if (strcmp(*n, name) == 0)
			return true;
	return false;
}

/* The job's args: this call's JOB_CERT_OPTIONS updated with job_options. */
static json_t *job_args(struct module *m)
{
	json_t *args = json_object(), *value;
	const char *key;

	for (const char *const *o = JOB_CERT_OPTIONS; args && *o; o++)
		if (module_has(m, *o))
			json_object_set(args, *o, module_get(m, *o));
	json_object_foreach(module_get(m, "job_options"), key, value)
	{
		if (!listed(JOB_CERT_OPTIONS, key) && !listed(JOB_ONLY_OPTIONS, key)) {
			json_decref(args);
			module_fail(
			    m,
			    "job_options: %s is not an option of the renewal job (metrics, "
			    "serving_url, timeout or one of this call's certificate options)",
			    key);
			return NULL;
		}
		json_object_set(args, key, value);
	}
	return args;
}

/* job_args_file: the renewal job's args file, 0600, written when it differs (also when the
 * certificate needed nothing), so one call keeps the certificate and its job in step. */
static int ensure_job_args(struct module *m)
{
	json_t *args;
	char *text, *line = NULL;
	int rc;

	if (!module_has(m, "job_args_file"))
		return module_has(m, "job_options")
			   ? module_fail(m, "job_options needs job_args_file (the file they go to)")
			   : 0;
	args = job_args(m);
	if (!args)
		return -1;
	/* As Ansible's to_nice_json writes it (sorted, indent 4, ASCII), with a final newline. */
	text = json_dumps(args, JSON_INDENT(4) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	json_decref(args);
	if (!text || asprintf(&line, "%s\n", text) < 0) {
		free(text);
		return module_fail(m, "job_args_file: out of memory");
	}
	free(text);
	rc = module_ensure_file(m, "job_args_file", module_str(m, "job_args_file"), line, 0600);
	free(line);
	if (rc < 0)
		return -1;
	module_set_bool(m, "job_args_changed", rc > 0);
	if (rc > 0)
		module_set_changed(m, true);
	return 0;
}

/* state=present and state=renewed: the decision is inspect_current's; then the job's args file
 * and the metrics. */
static int ensure(struct module *m)
{
	struct cert_state s = {0};
	struct metrics_config metrics;
	enum action action = ACTION_NONE;
	struct error err;
	int rc;

	if (metrics_config_parse(module_get(m, "metrics"), "metrics.", NULL, &metrics, &err) < 0)
		return module_fail(m, "%s", err.msg);
	if (metrics.dir &&
	    !metrics.kind[0]) /* one file per certificate: its file name tells them apart */
		metrics.kind = module_str(m, "cert_path");
	rc = run_present(m, &s, &action);
	if (rc == 0)
		rc = ensure_job_args(m);
	if (!m->check_mode && metrics.dir)
		write_metrics(m, &metrics, s.renew_fraction, rc == 0,
			      rc == 0 && action != ACTION_NONE);
	cert_state_free(&s);
	return rc;
}

static const char *const KEY_NEEDS[] = {"key_path", NULL};
static const char *const ISSUE_NEEDS[] = {"ca_url", "root", "subject", NULL};

static const struct option_rule rules[] = {
    {.option = "state", .value = "present", .requires = KEY_NEEDS},
    {.option = "state", .value = "renewed", .requires = KEY_NEEDS},
    {.option = "state", .value = "absent", .requires = KEY_NEEDS},
    {.option = "state", .value = "present", .requires = ISSUE_NEEDS},
    {.option = "state", .value = "renewed", .requires = ISSUE_NEEDS},
    {0},
};

static const struct state_handler states[] = {
    {"present", ensure},
    {"renewed", ensure},
    {"absent", remove_pair},
    {"inspected", run_inspected},
    {0},
};

static const struct module_spec spec = {
    .name = "step_cert",
    .options = options,
    .rules = rules,
    .states = states,
    .items = true,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
