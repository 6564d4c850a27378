/*
 * etcd_member: cluster membership and health over the etcd v3 JSON gateway
 * (docs/architecture.md, Modules; docs/protocols.md, etcd JSON gateway).
 *
 * state=query lists the members, the leader and the health of every endpoint; it fails only when
 * no endpoint answers. state=present makes sure a member is in the cluster and votes: a new one
 * is added (as a learner by default) and the call returns at once with the --initial-cluster the
 * new node must start with, since a learner cannot catch up before it runs; a later call, once
 * etcd runs there, waits until the learner has started and caught up, then promotes it. So a
 * role adds (promote=false), starts etcd, and calls present again. state=absent removes a member,
 * refusing to remove the last voter or to leave fewer healthy voters than a quorum unless forced.
 * state=leader_moved hands the leadership of a member to the most caught-up healthy voter (before
 * its restart); state=healthy waits until a member is healthy and within max_lag raft entries of
 * the leader (after its restart). With data_dir, the fdatasync latency of the member's disk is
 * measured first (module_utils/disk.c), with a warning or a failure past the thresholds.
 *
 * All calls and the arithmetic live in module_utils/etcd.c; this file decides and reports.
 */
#include "clock.h"
#include "disk.h"
#include "etcd.h"
#include "etcd_probe.h"
#include "module.h"
#include "x509.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *const ID_ALIASES[] = {"member_id", NULL};

static const struct option_spec options[] = {
    {.name = "endpoints", .type = OPT_LIST, .url = true},
    {.name = "ca_cert", .type = OPT_PATH},
    {.name = "client_cert", .type = OPT_PATH},
    {.name = "client_key", .type = OPT_PATH},
    {.name = "name", .type = OPT_STR},
    {.name = "peer_urls", .type = OPT_LIST, .url = true},
    {.name = "id", .type = OPT_STR, .aliases = ID_ALIASES},
    {.name = "state", .type = OPT_STR, .def = "query"},
    {.name = "learner", .type = OPT_BOOL, .def = "true"},
    {.name = "promote", .type = OPT_BOOL, .def = "true"},
    {.name = "force", .type = OPT_BOOL, .def = "false"},
    {.name = "wait", .type = OPT_BOOL, .def = "false"},
    {.name = "wait_timeout", .type = OPT_INT, .def = "120"},
    {.name = "timeout", .type = OPT_INT, .def = "5"},
    {.name = "max_lag", .type = OPT_INT, .def = "100"},
    {.name = "data_dir", .type = OPT_PATH},
    {.name = "fsync_warn_ms", .type = OPT_STR, .def = "10"},
    {.name = "fsync_fail_ms", .type = OPT_STR, .def = "0"},
    {.name = "fsync_writes", .type = OPT_INT, .def = "200"},
    {.name = "target_version", .type = OPT_STR},
    {0},
};

/* Between two looks at a learner that is starting or catching up. */
#define POLL_MIN_MS 250L
#define POLL_MAX_MS 2000L

struct job {
	struct etcd_client client;
	const char **endpoints;
	const char **peer_urls;
	size_t n_peer_urls;
	struct etcd_member_list list;
	struct timespec deadline; /* CLOCK_MONOTONIC: start + wait_timeout */
	double fsync_warn_ms, fsync_fail_ms;
	bool disk_only; /* state=query with data_dir and no endpoints: measure the disk only */
	struct etcd_semver target; /* target_version, when given */
};

static void job_free(struct job *j)
{
	free(j->endpoints);
	free(j->peer_urls);
	etcd_member_list_free(&j->list);
}

/* ---- retries ------------------------------------------------------------------------------- */

/*
 * One step of a retry loop: says on stderr what is awaited (never stdout: docs/architecture.md,
 * The binary module protocol), sleeps, and returns the next pause (doubling up to POLL_MAX_MS).
 */
static long backoff(const struct module *m, const char *what, const struct error *err,
		    long pause_ms)
{
	module_note(m, "%s: %s; again in %ld ms", what, err->msg, pause_ms);
	sleep_ms(pause_ms);
	return pause_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause_ms * 2;
}

/* ---- options ------------------------------------------------------------------------------- */

/* A list option as a new array of borrowed strings (the array is the caller's). */
static const char **list_option(struct module *m, const char *option, size_t *n)
{
	const char **out;

	*n = module_list_size(m, option);
	out = calloc(*n + 1, sizeof(*out));
	for (size_t i = 0; out && i < *n; i++)
		out[i] = module_list_str(m, option, i);
	return out;
}

static int check_urls(struct module *m, const char *option, const char *const *urls, size_t n,
		      bool https_only)
{
	for (size_t i = 0; i < n; i++) {
		bool https = strncmp(urls[i], "https://", 8) == 0;

		if (https_only && !https)
			return module_fail(m,
					   "%s: '%s' is not an https:// URL (the cluster's client "
					   "URLs use TLS)",
					   option, urls[i]);
		if (!https && strncmp(urls[i], "http://", 7) != 0)
			return module_fail(m, "%s: '%s' is not an http(s):// URL", option, urls[i]);
	}
	return 0;
}

/* The TLS options (ca_cert, client_cert, client_key): readable, and the pair given together. */
static int check_files(struct module *m)
{
	struct http_tls tls = {.ca_file = module_str(m, "ca_cert"),
			       .cert_file = module_str(m, "client_cert"),
			       .key_file = module_str(m, "client_key")};
	struct error err;

	return etcd_tls_check(&tls, &err) < 0 ? module_fail(m, "%s", err.msg) : 0;
}

/* A number of milliseconds >= 0 (a float: fsync_warn_ms=0.001 is fine). */
static int read_ms(struct module *m, const char *option, double *out)
{
	const char *text = module_str(m, option);
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(*out) || *out < 0)
		return module_fail(m, "%s: '%s' is not a number of milliseconds >= 0", option,
				   text);
	return 0;
}

static int check_numbers(struct module *m, struct job *j)
{
	if (module_int(m, "wait_timeout") < 0)
		return module_fail(m, "wait_timeout must be 0 or more seconds");
	if (module_int(m, "timeout") < 1 || module_int(m, "timeout") > 3600)
		return module_fail(m, "timeout must be between 1 and 3600 seconds");
	if (module_int(m, "max_lag") < 0)
		return module_fail(m, "max_lag must be 0 or more raft entries");
	if (module_has(m, "target_version") &&
	    etcd_semver_parse(module_str(m, "target_version"), &j->target) < 0)
		return module_fail(m, "target_version: '%s' is not an etcd version such as v3.5.16",
				   module_str(m, "target_version"));
	if (module_int(m, "fsync_writes") < 1 ||
	    module_int(m, "fsync_writes") > DISK_FSYNC_MAX_WRITES)
		return module_fail(m, "fsync_writes must be between 1 and %d",
				   DISK_FSYNC_MAX_WRITES);
	return read_ms(m, "fsync_warn_ms", &j->fsync_warn_ms) < 0 ||
		       read_ms(m, "fsync_fail_ms", &j->fsync_fail_ms) < 0
		   ? -1
		   : 0;
}

static int read_options(struct module *m, struct job *j)
{
	size_t n;

	if (check_numbers(m, j) < 0)
		return -1;
	j->endpoints = list_option(m, "endpoints", &n);
	j->peer_urls = list_option(m, "peer_urls", &j->n_peer_urls);
	if (!j->endpoints || !j->peer_urls)
		return module_fail(m, "out of memory");
	j->disk_only =
	    n == 0 && module_has(m, "data_dir") && strcmp(module_str(m, "state"), "query") == 0;
	if (n == 0 && !j->disk_only)
		return module_fail(m, "endpoints: give at least one client URL");
	if (check_urls(m, "endpoints", j->endpoints, n, true) < 0 ||
	    check_urls(m, "peer_urls", j->peer_urls, j->n_peer_urls, false) < 0 ||
	    check_files(m) < 0)
		return -1;
	j->client = (struct etcd_client){
	    .endpoints = j->endpoints,
	    .n_endpoints = n,
	    .tls = {.ca_file = module_str(m, "ca_cert"),
		    .cert_file = module_str(m, "client_cert"),
		    .key_file = module_str(m, "client_key")},
	    .timeout_ms = module_int(m, "timeout") * 1000L,
	};
	deadline_in(&j->deadline, module_int(m, "wait_timeout"));
	return 0;
}

/* ---- messages ------------------------------------------------------------------------------ */

/* Why the cluster may refuse client_cert, judged locally against ca_cert; NULL if it chains. */
static const char *client_cert_problem(const struct module *m)
{
	STACK_OF(X509) *chain = NULL;
	X509 *root = NULL;
	const char *problem = NULL;
	struct error err;
	int rc;

	if (!module_has(m, "client_cert") || !module_has(m, "ca_cert"))
		return NULL;
	chain = x509_read_pem_chain(module_str(m, "client_cert"), &err);
	root = x509_read_pem(module_str(m, "ca_cert"), &err);
	if (!chain || !root)
		goto out; /* cannot judge */
	rc = x509_verify_chain(sk_X509_value(chain, 0), chain, root, 0, &err);
	if (rc == -EKEYEXPIRED)
		problem = " (client_cert has expired or is not valid yet: renew it)";
	else if (rc < 0)
		problem =
		    " (client_cert is not signed by ca_cert: etcd with --client-cert-auth refuses "
		    "a client certificate that does not chain to the CA it trusts)";
out:
	x509_chain_free(chain);
	X509_free(root);
	return problem;
}

/* What a TLS failure usually means, from the reason http.c and etcd.c found, or "". */
static const char *tls_hint(const struct module *m, const struct error *err)
{
	const char *problem;

	switch (err->reason) {
	case ERROR_TLS_UNTRUSTED:
		return module_has(m, "ca_cert")
			   ? " (the endpoint's certificate does not verify against ca_cert)"
			   : " (the endpoint's certificate does not verify: set ca_cert to the "
			     "cluster's CA)";
	case ERROR_GATEWAY_CLOSED:
		/* etcd 3.4's gateway dials its own gRPC port with the server certificate as client
		 * certificate; without clientAuth usage that fails and the gateway says only this
		 */
		return " (the member's JSON gateway cannot reach its own gRPC server: with "
		       "--client-cert-auth its server certificate must also allow client "
		       "authentication)";
	case ERROR_TLS_NAME:
		return " (the endpoint's certificate does not name that host or IP)";
	case ERROR_TLS_CLOSED:
		break;
	default:
		return "";
	}
	if (!module_has(m, "client_cert"))
		return " (the endpoint closed the TLS connection: it requires a client "
		       "certificate; set client_cert and client_key)";
	problem = client_cert_problem(m);
	return problem
		   ? problem
		   : " (the endpoint closed the TLS connection: it may have refused client_cert; "
		     "it must be signed by the CA the cluster trusts and allow client "
		     "authentication)";
}

static void set_msg(struct module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(struct module *m, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	module_set_str(m, "msg", msg);
}

static int fail_call(struct module *m, const char *what, const struct error *err)
{
	return module_fail(m, "%s: %s%s", what, err->msg, tls_hint(m, err));
}

/* ---- results ------------------------------------------------------------------------------- */

static void set_members(struct module *m, const struct etcd_member_list *list, uint64_t skip)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < list->n_members; i++)
		if (list->members[i].id != skip)
			json_array_append_new(array, etcd_member_json(&list->members[i]));
	module_set(m, "members", array);
	module_set(m, "cluster_id", etcd_id_json(list->cluster_id));
}

static void set_member(struct module *m, const struct etcd_member *member)
{
	module_set(m, "member_id", member ? etcd_id_json(member->id) : json_null());
	module_set(m, "member", member ? etcd_member_json(member) : json_null());
}

/* initial_cluster for member (or, when NULL, for the new member about to be added). */
static void set_initial_cluster(struct module *m, const struct job *j,
				const struct etcd_member *member)
{
	const char *name = module_str(m, "name");
	char *text =
	    member ? etcd_initial_cluster(&j->list, member->id, name, NULL, NULL, 0)
		   : etcd_initial_cluster(&j->list, 0, NULL, name, j->peer_urls, j->n_peer_urls);

	module_set(m, "initial_cluster", text ? json_string(text) : json_null());
	module_set_str(m, "initial_cluster_state", "existing");
	free(text);
}

/* ---- health -------------------------------------------------------------------------------- */

/* ---- finding the member -------------------------------------------------------------------- */

/* The member `id` names, trying its hex then its decimal reading. */
static const struct etcd_member *find_by_id(struct module *m, const struct job *j, bool *bad)
{
	uint64_t ids[2];
	struct error err;
	int n = etcd_id_parse(module_str(m, "id"), ids, &err);

	*bad = n < 0;
	if (n < 0) {
		module_fail(m, "id: %s", err.msg);
		return NULL;
	}
	for (int i = 0; i < n; i++)
		if (etcd_member_by_id(&j->list, ids[i]))
			return etcd_member_by_id(&j->list, ids[i]);
	return NULL;
}

/* The member the options name, without judging conflicts (query). */
static const struct etcd_member *find_named(struct module *m, const struct job *j)
{
	const struct etcd_member *found = NULL;
	bool bad = false;

	if (module_has(m, "id"))
		found = find_by_id(m, j, &bad);
	if (!found && !bad)
		found = etcd_member_by_name(&j->list, module_str(m, "name"));
	if (!found && !bad && j->n_peer_urls)
		found = etcd_member_by_peer_urls(&j->list, j->peer_urls, j->n_peer_urls);
	return found;
}

/* name and peer_urls must describe one member, or none; fails (returns -1) otherwise. */
static int check_same_member(struct module *m, const struct job *j,
			     const struct etcd_member *by_name, const struct etcd_member *by_urls)
{
	char a[128], b[128];

	if (by_name && by_urls && by_name != by_urls)
		return module_fail(m, "name and peer_urls name two different members: %s and %s",
				   etcd_member_label(by_name, a, sizeof(a)),
				   etcd_member_label(by_urls, b, sizeof(b)));
	if (by_urls && !by_name && by_urls->name[0])
		return module_fail(m, "peer_urls: already used by member %s, not '%s'",
				   etcd_member_label(by_urls, a, sizeof(a)), module_str(m, "name"));
	if ((by_name || by_urls) && j->n_peer_urls) {
		const struct etcd_member *found = by_name ? by_name : by_urls;

		if (!etcd_urls_equal(found->peer_urls, found->n_peer_urls, j->peer_urls,
				     j->n_peer_urls))
			return module_fail(m,
					   "peer_urls: member %s has other peer URLs (%s...); "
					   "remove it first (state=absent) or correct peer_urls",
					   etcd_member_label(found, a, sizeof(a)),
					   found->n_peer_urls ? found->peer_urls[0] : "none");
	}
	return 0;
}

/* The member present/absent act on: by id, else name and peer_urls (which must agree). */
static int find_target(struct module *m, const struct job *j, const struct etcd_member **target)
{
	const struct etcd_member *by_name, *by_urls;
	bool bad = false;

	*target = NULL;
	if (module_has(m, "id")) {
		*target = find_by_id(m, j, &bad);
		return bad ? -1 : 0;
	}
	by_name = etcd_member_by_name(&j->list, module_str(m, "name"));
	by_urls = j->n_peer_urls ? etcd_member_by_peer_urls(&j->list, j->peer_urls, j->n_peer_urls)
				 : NULL;
	if (check_same_member(m, j, by_name, by_urls) < 0)
		return -1;
	*target = by_name ? by_name : by_urls;
	return 0;
}

static int list_members(struct module *m, struct job *j)
{
	struct error err;

	etcd_member_list_free(&j->list);
	if (etcd_member_list(&j->client, &j->list, &err) < 0)
		return fail_call(m, "endpoints", &err);
	return 0;
}

/* ---- state=query --------------------------------------------------------------------------- */

/* "https://a:2379, https://b:2379" of the unhealthy endpoints, into buf. */
static void list_unhealthy(const struct etcd_probe *probes, size_t n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		if (!probes[i].healthy)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 probes[i].endpoint);
}

static void report_health(struct module *m, struct job *j, const struct etcd_probe *probes,
			  size_t healthy)
{
	size_t n = j->client.n_endpoints;
	json_t *health = json_array();
	uint64_t leader = 0;
	char label[128] = "none", unhealthy[512];

	for (size_t i = 0; i < n; i++) {
		json_array_append_new(
		    health, etcd_probe_json(probes[i].healthy ? "" : tls_hint(m, &probes[i].err),
					    &probes[i]));
		if (!probes[i].healthy)
			module_warn(m, "endpoint %s is unhealthy: %s%s", probes[i].endpoint,
				    probes[i].err.msg, tls_hint(m, &probes[i].err));
		if (!leader && probes[i].answered)
			leader = probes[i].status.leader;
	}
	module_set(m, "health", health);
	module_set(m, "leader", etcd_id_json(leader));
	module_set_bool(m, "healthy", healthy == n);
	if (leader && etcd_member_by_id(&j->list, leader))
		etcd_member_label(etcd_member_by_id(&j->list, leader), label, sizeof(label));
	list_unhealthy(probes, n, unhealthy, sizeof(unhealthy));
	set_msg(m, "%zu of %zu endpoints healthy%s%s%s; %zu members (%zu voting); leader %s",
		healthy, n, healthy < n ? " (unhealthy: " : "", unhealthy,
		healthy < n ? ", see warnings and health)" : "", j->list.n_members,
		etcd_voter_count(&j->list), label);
}

/* cluster_version: what /version of the first endpoint that answers says (3.4 and 3.5 alike). */
static void set_cluster_version(struct module *m, const struct job *j,
				const struct etcd_probe *probes)
{
	char *server = NULL, *cluster = NULL;
	struct error err;

	module_set(m, "cluster_version", json_null());
	for (size_t i = 0; i < j->client.n_endpoints; i++) {
		if (!probes[i].answered ||
		    etcd_version_get(&j->client, probes[i].endpoint, &server, &cluster, &err) < 0)
			continue;
		module_set_str(m, "cluster_version", cluster);
		free(server);
		free(cluster);
		return;
	}
}

/* The probe of the member `id` (its own endpoint answered Status), or NULL. */
static const struct etcd_probe *probe_by_member(const struct job *j,
						const struct etcd_probe *probes, uint64_t id)
{
	for (size_t i = 0; i < j->client.n_endpoints; i++)
		if (probes[i].answered && probes[i].status.member_id == id &&
		    probes[i].status.version)
			return &probes[i];
	return NULL;
}

/* "3.4.23 on a, b; 3.5.16 on c" into buf: each version once, oldest first, with the members
 * that run it (in etcd's member order, which follows the random member IDs). */
static void describe_versions(const struct job *j, const struct etcd_semver *versions, char *buf,
			      size_t size)
{
	size_t used = 0, n = j->list.n_members;
	const struct etcd_semver *last = NULL;

	buf[0] = '\0';
	for (;;) {
		const struct etcd_semver *next = NULL;

		/* the oldest version newer than the last one written */
		for (size_t i = 0; i < n; i++)
			if ((!last || etcd_semver_cmp(&versions[i], last) > 0) &&
			    (!next || etcd_semver_cmp(&versions[i], next) < 0))
				next = &versions[i];
		if (!next || used >= size)
			break;
		used += (size_t)snprintf(buf + used, size - used, "%s%u.%u.%u on", used ? "; " : "",
					 next->major, next->minor, next->patch);
		for (size_t k = 0; k < n && used < size; k++)
			if (etcd_semver_cmp(&versions[k], next) == 0)
				used += (size_t)snprintf(buf + used, size - used, " %s",
							 j->list.members[k].name);
		last = next;
	}
}

/* The refusal of an upgrade to target_version, saying what to run instead. */
static int refuse_upgrade(struct module *m, const struct job *j, enum etcd_upgrade decision,
			  const char *running)
{
	const char *target = module_str(m, "target_version");
	const struct etcd_semver *t = &j->target;

	if (decision == ETCD_UPGRADE_SKIPS_MINOR)
		return module_fail(m,
				   "target_version %s: the members run %s, and etcd upgrades one "
				   "minor version at a time: upgrade to the newest v%u.%u.x first "
				   "(e.g. -e etcd_version=v%u.%u.<patch>), then to %s. Nothing was "
				   "changed",
				   target, running, t->major, t->minor ? t->minor - 1 : 0, t->major,
				   t->minor ? t->minor - 1 : 0, target);
	if (decision == ETCD_UPGRADE_DOWNGRADE)
		return module_fail(
		    m,
		    "target_version %s is older than what the members run (%s): etcd "
		    "cannot go back to an older minor version in place. Keep "
		    "etcd_version at what runs, or restore a backup taken before the "
		    "upgrade into a new cluster of the old version "
		    "(playbooks/restore-etcd-cluster.yaml). Nothing was changed",
		    target, running);
	return module_fail(m,
			   "the members run different versions (%s) and target_version %s is not "
			   "the way to bring them together: first run every member on one version "
			   "(finish the interrupted upgrade with that newer version as "
			   "etcd_version), then upgrade. Nothing was changed",
			   running, target);
}

/*
 * target_version: may every member move to it? Each member's version is what its own endpoint's
 * Maintenance.Status says (the server version, as /version's etcdserver); a member whose version
 * cannot be read (down, not started) makes the answer unknown, which is a refusal too.
 */
static int check_upgrade(struct module *m, const struct job *j, const struct etcd_probe *probes)
{
	static const char *const NAMES[] = {"none",	   "patch",	"minor", "resume",
					    "skips_minor", "downgrade", "mixed"};
	size_t n = j->list.n_members;
	struct etcd_semver *versions = calloc(n + 1, sizeof(*versions));
	json_t *by_member = json_object();
	enum etcd_upgrade decision;
	char running[512], label[128];
	int rc = -1;

	if (!versions || !by_member) {
		rc = module_fail(m, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const struct etcd_member *member = &j->list.members[i];
		const struct etcd_probe *p = probe_by_member(j, probes, member->id);

		if (!p || etcd_semver_parse(p->status.version, &versions[i]) < 0) {
			rc = module_fail(m,
					 "target_version: the version of member %s is unknown (its "
					 "client URLs did not answer: is it running and in "
					 "endpoints?); an upgrade starts only when every member "
					 "answers. Nothing was changed",
					 etcd_member_label(member, label, sizeof(label)));
			goto out;
		}
		json_object_set_new(by_member, member->name[0] ? member->name : "(not started)",
				    json_string(p->status.version));
	}
	decision = etcd_upgrade_check(versions, n, &j->target);
	module_set_str(m, "upgrade", NAMES[decision]);
	describe_versions(j, versions, running, sizeof(running));
	rc = etcd_upgrade_refused(decision) ? refuse_upgrade(m, j, decision, running) : 0;
out:
	if (by_member)
		module_set(m, "versions", by_member);
	free(versions);
	return rc;
}

static int query(struct module *m, struct job *j)
{
	size_t n = j->client.n_endpoints, healthy;
	struct etcd_probe *probes = calloc(n + 1, sizeof(*probes)); /* +1: never a 0-byte calloc */
	struct error err;
	int rc = -1, listed;

	if (!probes)
		return module_fail(m, "out of memory");
	healthy = etcd_probe_all(&j->client, probes);
	while (module_bool(m, "wait") && healthy < n && !deadline_past(&j->deadline)) {
		sleep_ms(POLL_MAX_MS / 2);
		healthy = etcd_probe_all(&j->client, probes);
	}
	listed = etcd_member_list(&j->client, &j->list, &err);
	report_health(m, j, probes, healthy);
	if (listed < 0) {
		fail_call(m, "endpoints", &err);
		goto out;
	}
	set_members(m, &j->list, 0);
	set_cluster_version(m, j, probes);
	if (module_has(m, "name") || module_has(m, "id") || j->n_peer_urls)
		set_member(m, find_named(m, j));
	if (module_bool(m, "wait") && healthy < n) {
		module_fail(
		    m, "wait_timeout: %zu of %zu endpoints still unhealthy after %lld s%s",
		    n - healthy, n, module_int(m, "wait_timeout"),
		    module_has(m, "target_version")
			? "; an upgrade starts only on a healthy cluster: bring the members "
			  "named in health back (journalctl, systemctl start), then run it again"
			: "");
		goto out;
	}
	if (module_has(m, "target_version") && check_upgrade(m, j, probes) < 0)
		goto out;
	rc = 0;
out:
	etcd_probes_free(probes, n);
	return rc;
}

/* ---- state=present ------------------------------------------------------------------------- */

/* A hint for the usual refusals of MemberAdd, or "". */
static const char *add_hint(const struct error *err)
{
	if (err->reason == ERROR_TOO_MANY_LEARNERS)
		return " (etcd allows one learner at a time: start and promote the waiting one, "
		       "or remove it)";
	if (err->reason == ERROR_UNHEALTHY)
		return " (etcd's strict reconfiguration check: every voting member must be "
		       "connected for 5 s; with learner=false, the started voters must also keep a "
		       "quorum with the new one)";
	return "";
}

/* MemberAdd failed: if the member is there anyway (the answer was lost), carry on. */
static int add_failed(struct module *m, struct job *j, const struct error *err, uint64_t *id)
{
	const struct etcd_member *found = NULL;
	struct etcd_member_list now;
	struct error list_err;

	if (etcd_member_list(&j->client, &now, &list_err) == 0)
		found = etcd_member_by_peer_urls(&now, j->peer_urls, j->n_peer_urls);
	if (found) {
		module_warn(m, "MemberAdd answered '%s', but the member is in the cluster now",
			    err->msg);
		*id = found->id;
		etcd_member_list_free(&j->list);
		j->list = now;
		return 0;
	}
	etcd_member_list_free(&now);
	return module_fail(m, "cannot add member '%s' (peer_urls %s): %s%s%s",
			   module_str(m, "name"), j->peer_urls[0], err->msg, add_hint(err),
			   tls_hint(m, err));
}

/*
 * MemberAdd. With --strict-reconfig-check (the default) etcd refuses any add, learners included,
 * with "unhealthy cluster" until every voter has been connected for 5 s (etcdserver
 * mayAddMember, HealthInterval): just after a start or a restart. A refusal changed nothing, so
 * it is retried until wait_timeout.
 */
static int add_until_accepted(struct module *m, struct job *j, bool learner, uint64_t *id)
{
	struct etcd_member_list after;
	long pause = POLL_MIN_MS;
	struct error err;

	while (etcd_member_add(&j->client, j->peer_urls, j->n_peer_urls, learner, id, &after,
			       &err) < 0) {
		if (err.reason != ERROR_UNHEALTHY || deadline_past(&j->deadline))
			return add_failed(m, j, &err, id);
		pause = backoff(m, "member add refused", &err, pause);
	}
	etcd_member_list_free(&j->list);
	j->list = after;
	return 0;
}

static int add_member(struct module *m, struct job *j)
{
	bool learner = module_bool(m, "learner");
	char hex[ETCD_ID_HEX_SIZE];
	uint64_t id = 0;

	if (!j->n_peer_urls)
		return module_fail(m,
				   "peer_urls: required to add member '%s', which is not in the "
				   "cluster",
				   module_str(m, "name"));
	if (!m->check_mode && add_until_accepted(m, j, learner, &id) < 0)
		return -1;
	module_set_changed(m, true);
	module_set_str(m, "action", "added");
	module_set_bool(m, "is_learner", learner);
	set_members(m, &j->list, 0);
	if (m->check_mode) {
		set_initial_cluster(m, j, NULL);
		set_member(m, NULL);
		set_msg(m, "would add '%s' as a %s", module_str(m, "name"),
			learner ? "learner" : "voting member");
		return 0;
	}
	set_initial_cluster(m, j, etcd_member_by_id(&j->list, id));
	set_member(m, etcd_member_by_id(&j->list, id));
	set_msg(m,
		"added '%s' (%s) as a %s: start etcd on it with initial_cluster and "
		"initial_cluster_state=existing%s",
		module_str(m, "name"), etcd_id_hex(id, hex), learner ? "learner" : "voting member",
		learner ? ", then run state=present again to promote it" : "");
	return 0;
}

/* A learner has started once it has published its name and client URLs (etcdserver publish). */
static int wait_started(struct module *m, struct job *j, uint64_t id,
			const struct etcd_member **member)
{
	char label[128];

	for (;;) {
		*member = etcd_member_by_id(&j->list, id);
		if (!*member)
			return module_fail(m,
					   "member %" PRIx64 " left the cluster while waiting for "
					   "it to start",
					   id);
		if ((*member)->name[0])
			return 0;
		if (deadline_past(&j->deadline)) {
			set_initial_cluster(m, j, *member);
			return module_fail(m,
					   "wait_timeout: learner %s was added but has not started "
					   "within %lld s: start etcd on it with --name %s "
					   "--initial-cluster-state existing and --initial-cluster "
					   "as initial_cluster shows, then run again",
					   etcd_member_label(*member, label, sizeof(label)),
					   module_int(m, "wait_timeout"), module_str(m, "name"));
		}
		sleep_ms(POLL_MAX_MS / 2);
		if (list_members(m, j) < 0)
			return -1;
	}
}

/* Raft indexes of the learner and of the leader, for the timeout message (best effort). */
static void describe_lag(const struct job *j, const struct etcd_member *learner, char *buf,
			 size_t size)
{
	struct etcd_status mine = {0}, leader = {0};
	struct error err;
	bool have_mine = learner->n_client_urls &&
			 etcd_status(&j->client, learner->client_urls[0], &mine, &err) == 0;
	bool have_leader =
	    etcd_status(&j->client, j->endpoints[j->client.current], &leader, &err) == 0;

	snprintf(buf, size, "; raft index: learner %s%llu, cluster %s%llu",
		 have_mine ? "" : "unknown ", have_mine ? (unsigned long long)mine.raft_index : 0,
		 have_leader ? "" : "unknown ",
		 have_leader ? (unsigned long long)leader.raft_index : 0);
	etcd_status_free(&mine);
	etcd_status_free(&leader);
}

/*
 * Promote until etcd accepts: it refuses while the learner is behind the leader (the leader
 * wants its match index within 90% of its own: etcdserver isLearnerReady), so retry with
 * backoff until wait_timeout.
 */
static int promote_until_ready(struct module *m, struct job *j, const struct etcd_member *learner)
{
	long pause = POLL_MIN_MS;
	char label[128], lag[160];
	uint64_t id = learner->id;
	struct error err;

	etcd_member_label(learner, label, sizeof(label));
	while (etcd_member_promote(&j->client, id, &err) < 0) {
		if (err.reason != ERROR_LEARNER_NOT_READY) {
			if (err.reason == ERROR_NOT_LEARNER)
				return 1; /* a voter already: someone promoted it meanwhile */
			return fail_call(m, "cannot promote", &err);
		}
		if (deadline_past(&j->deadline)) {
			describe_lag(j, learner, lag, sizeof(lag));
			return module_fail(m,
					   "wait_timeout: learner %s has not caught up with the "
					   "leader within %lld s: %s%s",
					   label, module_int(m, "wait_timeout"), err.msg, lag);
		}
		pause = backoff(m, "learner not ready for promotion", &err, pause);
	}
	return 0;
}

static int promote_member(struct module *m, struct job *j, uint64_t id)
{
	const struct etcd_member *member;
	int rc = 0;

	if (!m->check_mode) {
		if (wait_started(m, j, id, &member) < 0)
			return -1;
		rc = promote_until_ready(m, j, member);
		if (rc < 0 || list_members(m, j) < 0)
			return -1;
	}
	module_set_changed(m, rc == 0);
	module_set_str(m, "action", rc == 0 ? "promoted" : "none");
	return 0;
}

static int present(struct module *m, struct job *j)
{
	const struct etcd_member *target;
	char label[128];
	uint64_t id;

	if (list_members(m, j) < 0 || find_target(m, j, &target) < 0)
		return -1;
	if (!target)
		return add_member(m, j);
	id = target->id;
	module_set_changed(m, false);
	module_set_str(m, "action", "none");
	if (target->is_learner && module_bool(m, "promote") && promote_member(m, j, id) < 0)
		return -1;
	target = etcd_member_by_id(&j->list, id);
	if (!target)
		return module_fail(m, "member %" PRIx64 " left the cluster meanwhile", id);
	set_initial_cluster(m, j, target);
	set_members(m, &j->list, 0);
	set_member(m, target);
	module_set_bool(m, "is_learner",
			m->check_mode && module_changed(m) ? false : target->is_learner);
	set_msg(m, "member %s %s", etcd_member_label(target, label, sizeof(label)),
		module_changed(m) && m->check_mode ? "would be promoted to a voting member"
		: module_changed(m)		   ? "promoted to a voting member"
		: !target->is_learner		   ? "is a voting member"
		: !target->name[0]		   ? "is a learner that has not started yet"
						   : "is a learner (promote=false)");
	return 0;
}

/* ---- state=absent -------------------------------------------------------------------------- */

/* Health of the voters, seen through the endpoints and the voters' own client URLs. */
struct voter_health {
	size_t voters, healthy;
	bool target_healthy;
	char unhealthy[ERROR_MSG_MAX]; /* "name: reason; ..." */
};

/* The probe already made of endpoint, or NULL. */
static void count_healthy_voters(struct job *j, uint64_t target, struct voter_health *h)
{
	size_t n = j->client.n_endpoints, used = 0;
	struct etcd_probe *probes = calloc(n + 1, sizeof(*probes)); /* +1: never a 0-byte calloc */
	struct error why;

	memset(h, 0, sizeof(*h));
	if (probes)
		etcd_probe_all(&j->client, probes);
	for (size_t i = 0; probes && i < j->list.n_members; i++) {
		const struct etcd_member *member = &j->list.members[i];
		bool healthy;

		if (member->is_learner)
			continue;
		h->voters++;
		healthy = etcd_member_healthy(&j->client, member, probes, &why);
		h->healthy += healthy;
		if (member->id == target)
			h->target_healthy = healthy;
		else if (!healthy && used < sizeof(h->unhealthy))
			used +=
			    (size_t)snprintf(h->unhealthy + used, sizeof(h->unhealthy) - used,
					     "%s'%s': %s", used ? "; " : "", member->name, why.msg);
	}
	etcd_probes_free(probes, n);
}

/*
 * Refuses (returns -1) a removal that would leave no voter or break quorum, unless forced.
 * *safe says whether the removal keeps a quorum of healthy voters.
 */
static int check_removal(struct module *m, struct job *j, const struct etcd_member *target,
			 bool *safe)
{
	struct voter_health h;
	char label[128];

	*safe = true;
	if (target->is_learner)
		return 0;
	count_healthy_voters(j, target->id, &h);
	etcd_member_label(target, label, sizeof(label));
	switch (etcd_removal_check(h.voters, h.healthy, true, h.target_healthy)) {
	case ETCD_REMOVAL_SAFE:
		return 0;
	case ETCD_REMOVAL_LAST_VOTER:
		return module_fail(m,
				   "refusing to remove %s: it is the last voting member (delete "
				   "the cluster instead)",
				   label);
	case ETCD_REMOVAL_BREAKS_QUORUM:
		break;
	}
	*safe = false;
	if (!module_bool(m, "force"))
		return module_fail(
		    m,
		    "refusing to remove %s: %zu healthy voting members would remain "
		    "of %zu, fewer than the quorum of %zu; unhealthy: %s. Bring them "
		    "back first, or set force=true",
		    label, h.healthy - h.target_healthy, h.voters - 1, etcd_quorum(h.voters - 1),
		    h.unhealthy[0] ? h.unhealthy : "none");
	module_warn(m,
		    "force: removing %s although only %zu healthy voting members remain of "
		    "%zu (quorum %zu)",
		    label, h.healthy - h.target_healthy, h.voters - 1, etcd_quorum(h.voters - 1));
	return 0;
}

/*
 * MemberRemove. etcd (--strict-reconfig-check, on by default) answers "unhealthy cluster" unless
 * a quorum of the remaining voters has been connected for 5 s (etcdserver mayRemoveMember,
 * HealthInterval): right after a member restarted that passes, so a removal we judged safe is
 * retried until wait_timeout. Returns 1 when the member was already gone.
 */
static int remove_until_accepted(struct module *m, struct job *j, uint64_t id, bool safe,
				 const char *label)
{
	long pause = POLL_MIN_MS;
	struct error err;

	while (etcd_member_remove(&j->client, id, &err) < 0) {
		if (err.reason == ERROR_NOT_FOUND)
			return 1; /* removed by someone else meanwhile */
		if (!safe || err.reason != ERROR_UNHEALTHY || deadline_past(&j->deadline))
			return module_fail(m, "cannot remove %s: %s%s%s", label, err.msg,
					   err.reason == ERROR_UNHEALTHY
					       ? " (etcd's strict reconfiguration check: the "
						 "remaining voters cannot keep a quorum)"
					       : "",
					   tls_hint(m, &err));
		pause = backoff(m, "member remove refused", &err, pause);
	}
	return 0;
}

static int absent(struct module *m, struct job *j)
{
	const struct etcd_member *target;
	char label[128];
	bool safe;
	uint64_t id;
	int rc = 0;

	if (list_members(m, j) < 0 || find_target(m, j, &target) < 0)
		return -1;
	module_set_str(m, "action", "none");
	if (!target) {
		set_members(m, &j->list, 0);
		set_msg(m, "no such member: nothing to remove");
		return 0;
	}
	id = target->id;
	etcd_member_label(target, label, sizeof(label));
	module_set(m, "member_id", etcd_id_json(id));
	if (check_removal(m, j, target, &safe) < 0)
		return -1;
	if (!m->check_mode) {
		rc = remove_until_accepted(m, j, id, safe, label);
		/* A removed member may still answer for a moment with its old view. */
		if (rc < 0 || list_members(m, j) < 0)
			return -1;
	}
	module_set_changed(m, rc == 0);
	module_set_str(m, "action", rc == 0 ? "removed" : "none");
	set_members(m, &j->list, id);
	set_msg(m, "%s %s",
		rc == 1		? "already gone:"
		: m->check_mode ? "would remove"
				: "removed",
		label);
	return 0;
}

/* ---- the disk (data_dir) ------------------------------------------------------------------- */

/*
 * fdatasync latency where the member's data lives (module_utils/disk.h): a warning above
 * fsync_warn_ms, a failure above fsync_fail_ms (0: never), the figures in the result. Runs in
 * check mode too: the test file is gone before the module returns.
 */
static int check_disk(struct module *m, struct job *j)
{
	struct disk_fsync_result r;
	struct error err;
	char figures[512];

	if (disk_fsync_measure(module_str(m, "data_dir"), (size_t)module_int(m, "fsync_writes"), &r,
			       &err) < 0)
		return module_fail(m, "data_dir: cannot measure the fsync latency: %s", err.msg);
	module_set(m, "fsync_p50_ms", json_real(r.p50_ms));
	module_set(m, "fsync_p99_ms", json_real(r.p99_ms));
	module_set(m, "fsync_max_ms", json_real(r.max_ms));
	module_set_int(m, "fsync_writes", (long long)r.writes);
	module_set_str(m, "fsync_dir", r.dir);
	snprintf(
	    figures, sizeof(figures),
	    "fsync latency in %.300s: p50 %.3f ms, p99 %.3f ms, max %.3f ms over %zu writes of %d "
	    "bytes",
	    r.dir, r.p50_ms, r.p99_ms, r.max_ms, r.writes, DISK_FSYNC_WRITE_SIZE);
	if (j->fsync_fail_ms > 0 && r.p99_ms > j->fsync_fail_ms)
		return module_fail(
		    m,
		    "%s: the p99 is above fsync_fail_ms %g ms. etcd commits every "
		    "write with an fsync of its WAL and wants a p99 below 10 ms; on "
		    "this disk expect slow writes and lost leaders. Put data_dir on a "
		    "faster disk (SSD), or raise fsync_fail_ms",
		    figures, j->fsync_fail_ms);
	if (r.p99_ms > j->fsync_warn_ms)
		module_warn(m,
			    "%s: the p99 is above fsync_warn_ms %g ms (etcd wants the p99 of its "
			    "WAL fsyncs below 10 ms: expect slow writes and leader elections)",
			    figures, j->fsync_warn_ms);
	set_msg(m, "%s", figures);
	return 0;
}

/* ---- every member through its own client URLs (leader_moved, healthy) ----------------------- */

/* Probes member through its client URLs until one answers as that member; false if none. */
/* The member name or id names (no peer_urls: these states act on running members). */
static int find_running(struct module *m, struct job *j, const struct etcd_member **target)
{
	bool bad = false;

	*target = module_has(m, "id") ? find_by_id(m, j, &bad)
				      : etcd_member_by_name(&j->list, module_str(m, "name"));
	if (bad)
		return -1;
	if (!*target)
		return module_fail(m, "no member %s '%s' in the cluster",
				   module_has(m, "id") ? "with id" : "named",
				   module_str(m, module_has(m, "id") ? "id" : "name"));
	return 0;
}

/* ---- state=leader_moved -------------------------------------------------------------------- */

/* One look at the cluster for leader_moved: members, their probes, the leader. */
struct leadership {
	struct etcd_probe *probes;
	struct etcd_member_state *states;
	size_t n;
	uint64_t leader;
};

static void leadership_free(struct leadership *l)
{
	etcd_probes_free(l->probes, l->n);
	free(l->states);
	memset(l, 0, sizeof(*l));
}

static int leadership_look(struct module *m, struct job *j, struct leadership *l)
{
	leadership_free(l);
	if (list_members(m, j) < 0)
		return -1;
	l->n = j->list.n_members;
	l->probes = calloc(l->n + 1, sizeof(*l->probes));
	l->states = calloc(l->n + 1, sizeof(*l->states));
	if (!l->probes || !l->states)
		return module_fail(m, "out of memory");
	etcd_probe_members(&j->client, &j->list, l->probes, l->states, &l->leader);
	return 0;
}

/* "'a': reason; 'b': reason" of the voters other than `leaving` that are not healthy. */
static void list_unfit(const struct job *j, const struct leadership *l, uint64_t leaving, char *buf,
		       size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && used < size; i++)
		if (l->states[i].id != leaving && l->states[i].voter && !l->states[i].healthy)
			used += (size_t)snprintf(buf + used, size - used, "%s'%s': %s",
						 used ? "; " : "", j->list.members[i].name,
						 l->probes[i].err.msg);
}

static void report_leadership(struct module *m, const struct job *j, uint64_t before,
			      uint64_t after, uint64_t transferee, uint64_t member)
{
	set_members(m, &j->list, 0);
	module_set(m, "member_id", etcd_id_json(member));
	module_set(m, "previous_leader", etcd_id_json(before));
	module_set(m, "leader", etcd_id_json(after));
	module_set(m, "transferee", etcd_id_json(transferee));
}

/*
 * One transfer attempt from the leader `from` (index in l) to the best transferee. Returns 1
 * when it was asked (and accepted), 0 when it should be tried again later (*why says why), -1
 * when the module failed.
 */
static int transfer_once(struct module *m, struct job *j, const struct leadership *l, size_t from,
			 uint64_t *transferee, struct error *why)
{
	int pick = etcd_transferee(l->states, l->n, l->states[from].id);
	char unfit[512];

	if (pick < 0) {
		list_unfit(j, l, l->states[from].id, unfit, sizeof(unfit));
		error_set(why, -EAGAIN, "no healthy voting member to hand the leadership to (%s)",
			  unfit[0] ? unfit : "none");
		return 0;
	}
	*transferee = l->states[pick].id;
	if (m->check_mode)
		return 1;
	if (!l->probes[from].answered) {
		error_set(why, -EAGAIN, "the leader does not answer at its client URLs: %s",
			  l->probes[from].err.msg);
		return 0;
	}
	if (etcd_move_leader(&j->client, l->probes[from].endpoint, *transferee, why) < 0)
		return 0;
	return 1;
}

static int leader_moved(struct module *m, struct job *j)
{
	struct leadership l = {0};
	const struct etcd_member *target;
	uint64_t id = 0, first_leader = 0, transferee = 0;
	char label[128], other[128];
	struct error why;
	long pause = POLL_MIN_MS;
	bool asked = false;
	int rc = -1;

	for (;;) {
		if (leadership_look(m, j, &l) < 0 || find_running(m, j, &target) < 0)
			goto out;
		id = target->id;
		etcd_member_label(target, label, sizeof(label));
		if (!first_leader)
			first_leader = l.leader;
		if (l.leader && l.leader != id) {
			/* Not (or no longer) the leader: done. */
			break;
		}
		if (l.leader == id && etcd_voter_count(&j->list) == 1) {
			module_warn(m, "%s is the only voting member: the leadership stays", label);
			break;
		}
		error_set(&why, -EAGAIN, "no healthy member knows a leader");
		if (l.leader == id) {
			size_t from = (size_t)(target - j->list.members);
			int done = transfer_once(m, j, &l, from, &transferee, &why);

			if (done < 0)
				goto out;
			if (done && m->check_mode) {
				asked = true;
				break;
			}
			asked = asked || done;
		}
		if (deadline_past(&j->deadline)) {
			module_fail(m, "wait_timeout: %s %s within %lld s: %s", label,
				    asked ? "was asked to hand the leadership over, but no other "
					    "leader was seen"
					  : "still leads",
				    module_int(m, "wait_timeout"), why.msg);
			goto out;
		}
		pause = backoff(m, "leadership not moved yet", &why, pause);
	}
	module_set_changed(m, asked);
	module_set_str(m, "action", asked ? "moved" : "none");
	report_leadership(m, j, first_leader, m->check_mode && asked ? transferee : l.leader,
			  asked ? transferee : 0, id);
	if (asked)
		set_msg(m, "%s leadership of %s to %s",
			m->check_mode ? "would hand the" : "handed the", label,
			etcd_label_of(&j->list, transferee, other, sizeof(other)));
	else
		set_msg(m, "%s is not the leader (the leader is %s): nothing to do", label,
			etcd_label_of(&j->list, l.leader, other, sizeof(other)));
	rc = 0;
out:
	leadership_free(&l);
	return rc;
}

/* ---- state=healthy ------------------------------------------------------------------------- */

/* Where a member stands against the leader. */
struct catch_up {
	uint64_t leader, leader_index, applied, lag;
	bool is_learner;
};

/*
 * One look: the member healthy, the leader's committed index read first, then the member's
 * applied index (read second, so that entries committed between the two calls never count as
 * lag). Returns 1 when caught up, 0 when not (*why says why), -1 on failure of the module.
 */
static int catch_up_look(struct module *m, struct job *j, struct catch_up *c, struct error *why)
{
	const struct etcd_member *target, *leader;
	struct etcd_probe p = {0}, lp = {0};
	char label[128], leader_label[128];
	int rc = 0;

	memset(c, 0, sizeof(*c));
	etcd_member_list_free(&j->list);
	if (etcd_member_list(&j->client, &j->list, why) < 0)
		return 0; /* no endpoint answers right now: look again */
	if (find_running(m, j, &target) < 0)
		return -1;
	etcd_member_label(target, label, sizeof(label));
	c->is_learner = target->is_learner;
	if (!etcd_probe_member(&j->client, target, &p)) {
		error_set(why, -EAGAIN, "%s is not healthy: %s", label, p.err.msg);
		goto out;
	}
	c->leader = p.status.leader;
	leader = etcd_member_by_id(&j->list, c->leader);
	if (!leader) {
		error_set(why, -EAGAIN, "%s knows no leader", label);
		goto out;
	}
	if (leader != target && !etcd_probe_member(&j->client, leader, &lp)) {
		error_set(why, -EAGAIN, "the leader is not healthy: %s", lp.err.msg);
		goto out;
	}
	c->leader_index = leader == target ? p.status.raft_index : lp.status.raft_index;
	/* A follower is asked again, after its leader: its applied index is then the newer one.
	 * The leader's own answer is kept (freeing it would read its applied index as 0). */
	if (leader != target) {
		etcd_status_free(&p.status);
		if (!etcd_probe_member(&j->client, target, &p)) {
			error_set(why, -EAGAIN, "%s is not healthy: %s", label, p.err.msg);
			goto out;
		}
	}
	/* raftAppliedIndex is 3.4+; a zero (omitted) one falls back to the committed index. */
	c->applied =
	    p.status.raft_applied_index ? p.status.raft_applied_index : p.status.raft_index;
	c->lag = etcd_raft_lag(c->leader_index, c->applied);
	rc = c->lag <= (uint64_t)module_int(m, "max_lag");
	if (!rc)
		error_set(why, -EAGAIN,
			  "%s has applied index %" PRIu64 ", the leader %s is at %" PRIu64
			  ": %" PRIu64 " entries behind (max_lag %lld)",
			  label, c->applied,
			  etcd_member_label(leader, leader_label, sizeof(leader_label)),
			  c->leader_index, c->lag, module_int(m, "max_lag"));
out:
	etcd_status_free(&p.status);
	etcd_status_free(&lp.status);
	return rc;
}

static int healthy_state(struct module *m, struct job *j)
{
	const struct etcd_member *target;
	struct catch_up c;
	struct error why;
	char label[128], leader[128];
	long pause = POLL_MIN_MS;
	int rc;

	while ((rc = catch_up_look(m, j, &c, &why)) == 0) {
		if (deadline_past(&j->deadline))
			return module_fail(m,
					   "wait_timeout: member '%s' is not healthy and caught up "
					   "after %lld s: %s",
					   module_str(m, module_has(m, "id") ? "id" : "name"),
					   module_int(m, "wait_timeout"), why.msg);
		pause = backoff(m, "member not healthy and caught up yet", &why, pause);
	}
	if (rc < 0 || find_running(m, j, &target) < 0)
		return -1;
	module_set_changed(m, false);
	set_members(m, &j->list, 0);
	set_member(m, target);
	module_set(m, "leader", etcd_id_json(c.leader));
	module_set_bool(m, "healthy", true);
	module_set_int(m, "applied_index", (long long)c.applied);
	module_set_int(m, "leader_raft_index", (long long)c.leader_index);
	module_set_int(m, "lag", (long long)c.lag);
	module_set_bool(m, "is_learner", c.is_learner);
	set_msg(m,
		"member %s is healthy and caught up: applied index %" PRIu64
		", leader %s at %" PRIu64 " (lag %" PRIu64 ", max_lag %lld)",
		etcd_member_label(target, label, sizeof(label)), c.applied,
		etcd_label_of(&j->list, c.leader, leader, sizeof(leader)), c.leader_index, c.lag,
		module_int(m, "max_lag"));
	return 0;
}

typedef int (*job_fn)(struct module *m, struct job *j);

/* Every state: read and check the options, measure the disk first (a member on a too slow
 * disk is not added, promoted or restarted), then the state's own steps. */
static int with_job(struct module *m, job_fn fn)
{
	struct job j = {0};
	int rc = -1;

	if (read_options(m, &j) < 0)
		goto out;
	if (module_has(m, "data_dir") && check_disk(m, &j) < 0)
		goto out;
	rc = j.disk_only ? 0 : fn(m, &j);
out:
	job_free(&j);
	return rc;
}

static int run_query(struct module *m)
{
	return with_job(m, query);
}

static int run_present(struct module *m)
{
	return with_job(m, present);
}

static int run_absent(struct module *m)
{
	return with_job(m, absent);
}

static int run_leader_moved(struct module *m)
{
	return with_job(m, leader_moved);
}

static int run_healthy(struct module *m)
{
	return with_job(m, healthy_state);
}

static const char *const PRESENT_NEEDS[] = {"name", NULL};
static const char *const ABSENT_NEEDS[] = {"name", "id", "peer_urls", NULL};
static const char *const MEMBER_NEEDS[] = {"name", "id", NULL};

static const struct option_rule rules[] = {
    {.option = "state",
     .value = "present",
     .requires = PRESENT_NEEDS,
     .why = " (the new member's --name, used in initial_cluster)"},
    {.option = "state",
     .value = "absent",
     .requires = ABSENT_NEEDS,
     .any = true,
     .why = " to find the member"},
    {.option = "state",
     .value = "leader_moved",
     .requires = MEMBER_NEEDS,
     .any = true,
     .why = ": the member to move the leadership away from"},
    {.option = "state",
     .value = "healthy",
     .requires = MEMBER_NEEDS,
     .any = true,
     .why = ": the member to wait for"},
    {0},
};

static const struct state_handler states[] = {
    {"query", run_query},     {"present", run_present},
    {"absent", run_absent},   {"leader_moved", run_leader_moved},
    {"healthy", run_healthy}, {0},
};

static const struct module_spec spec = {
    .name = "etcd_member",
    .options = options,
    .rules = rules,
    .states = states,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
