/*
 * etcd_member: cluster membership and health over the etcd v3 JSON gateway
 * (docs/architecture.md, Modules; docs/protocols.md, etcd JSON gateway).
 *
 * state=query lists the members, the leader and the health of every endpoint; it fails only when
 * no endpoint answers. With target_version it is an upgrade's gate too: the members the cluster
 * lists are probed (not the endpoints given) and each one's version decides.
 * state=present makes sure a member is in the cluster and votes: a new one
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
 * All calls and the arithmetic live in module_utils/etcd.c, the looks at the whole cluster
 * (voters' health, leadership, catch-up, versions, TLS hints, which member the options name) in
 * module_utils/etcd_cluster.c; this file decides and reports.
 */
#include "clock.h"
#include "disk.h"
#include "etcd.h"
#include "etcd_cluster.h"
#include "etcd_probe.h"
#include "module.h"

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
	const char **listed;	   /* target_version: the listed members' client URLs (in list) */
};

static void job_free(struct job *j)
{
	free(j->endpoints);
	free(j->listed);
	free(j->peer_urls);
	etcd_member_list_free(&j->list);
}

/* ---- options ------------------------------------------------------------------------------- */

/* The TLS options (ca_cert, client_cert, client_key): readable, and the pair given together. */
static int check_files(struct module *m)
{
	struct http_tls tls = {.ca_file = module_str(m, "ca_cert"),
			       .cert_file = module_str(m, "client_cert"),
			       .key_file = module_str(m, "client_key")};
	struct error err;

	return etcd_tls_check(&tls, &err) < 0 ? module_fail(m, "%s", err.msg) : 0;
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
	return module_ms(m, "fsync_warn_ms", &j->fsync_warn_ms) < 0 ||
		       module_ms(m, "fsync_fail_ms", &j->fsync_fail_ms) < 0
		   ? -1
		   : 0;
}

static int read_options(struct module *m, struct job *j)
{
	size_t n;

	if (check_numbers(m, j) < 0)
		return -1;
	j->endpoints = module_list_strv(m, "endpoints", &n);
	j->peer_urls = module_list_strv(m, "peer_urls", &j->n_peer_urls);
	if (!j->endpoints || !j->peer_urls)
		return module_fail(m, "out of memory");
	j->disk_only =
	    n == 0 && module_has(m, "data_dir") && strcmp(module_str(m, "state"), "query") == 0;
	if (n == 0 && !j->disk_only)
		return module_fail(m, "endpoints: give at least one client URL");
	if (module_check_urls(m, "endpoints", j->endpoints, n, true) < 0 ||
	    module_check_urls(m, "peer_urls", j->peer_urls, j->n_peer_urls, false) < 0 ||
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

/* What a TLS failure usually means (module_utils/etcd_cluster.c), or "". */
static const char *tls_hint(const struct module *m, const struct error *err)
{
	struct http_tls tls = {.ca_file = module_str(m, "ca_cert"),
			       .cert_file = module_str(m, "client_cert")};

	return etcd_tls_hint(&tls, err);
}

static int fail_call(struct module *m, const char *what, const struct error *err)
{
	return module_fail(m, "%s: %s%s", what, err->msg, tls_hint(m, err));
}

/* ---- results ------------------------------------------------------------------------------- */

static void set_members(struct module *m, const struct etcd_member_list *list, uint64_t skip)
{
	module_set(m, "members", etcd_members_json(list, skip));
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

/* ---- finding the member -------------------------------------------------------------------- */

/* What the options say about the member acted on. */
static struct etcd_member_ref member_ref(const struct module *m, const struct job *j)
{
	return (struct etcd_member_ref){.id = module_str(m, "id"),
					.name = module_str(m, "name"),
					.peer_urls = j->peer_urls,
					.n_peer_urls = j->n_peer_urls};
}

/* The member present/absent act on (module_utils/etcd_cluster.c). */
static int find_target(struct module *m, const struct job *j, const struct etcd_member **target)
{
	struct etcd_member_ref ref = member_ref(m, j);
	struct error err;

	if (etcd_member_find_target(&j->list, &ref, target, &err) < 0)
		return module_fail(m, "%s", err.msg);
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

static void report_health(struct module *m, struct job *j, const struct etcd_probe *probes,
			  size_t healthy)
{
	size_t n = j->client.n_endpoints;
	uint64_t leader = etcd_probes_leader(probes, n);
	char label[128] = "none", unhealthy[512];

	for (size_t i = 0; i < n; i++)
		if (!probes[i].healthy)
			module_warn(m, "endpoint %s is unhealthy: %s%s", probes[i].endpoint,
				    probes[i].err.msg, tls_hint(m, &probes[i].err));
	module_set(m, "health", etcd_health_json(&j->client, probes));
	module_set(m, "leader", etcd_id_json(leader));
	module_set_bool(m, "healthy", healthy == n);
	if (leader && etcd_member_by_id(&j->list, leader))
		etcd_member_label(etcd_member_by_id(&j->list, leader), label, sizeof(label));
	etcd_list_unhealthy(probes, n, unhealthy, sizeof(unhealthy));
	module_set_msg(m, "%zu of %zu endpoints healthy%s%s%s; %zu members (%zu voting); leader %s",
		       healthy, n, healthy < n ? " (unhealthy: " : "", unhealthy,
		       healthy < n ? ", see warnings and health)" : "", j->list.n_members,
		       etcd_voter_count(&j->list), label);
}

/* cluster_version: what /version of the first endpoint that answers says (3.4 and 3.5 alike). */
static void set_cluster_version(struct module *m, struct job *j, const struct etcd_probe *probes)
{
	char *cluster = etcd_cluster_version_dup(&j->client, probes);

	module_set(m, "cluster_version", cluster ? json_string(cluster) : json_null());
	free(cluster);
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
	const struct etcd_member *unknown;
	char running[512], label[128];
	int rc = -1;

	if (!versions || !by_member) {
		rc = module_fail(m, "out of memory");
		goto out;
	}
	if (etcd_member_versions(&j->client, &j->list, probes, versions, by_member, &unknown) < 0) {
		rc =
		    module_fail(m,
				"target_version: the version of member %s is unknown (its client "
				"URLs did not answer: is it running and in endpoints?); an upgrade "
				"starts only when every member answers. Nothing was changed",
				etcd_member_label(unknown, label, sizeof(label)));
		goto out;
	}
	decision = etcd_upgrade_check(versions, n, &j->target);
	module_set_str(m, "upgrade", NAMES[decision]);
	etcd_describe_versions(&j->list, versions, running, sizeof(running));
	rc = etcd_upgrade_refused(decision) ? refuse_upgrade(m, j, decision, running) : 0;
out:
	if (by_member)
		module_set(m, "versions", by_member);
	free(versions);
	return rc;
}

/* Probes every endpoint of j->client; with wait, again until all are healthy or the deadline. */
static size_t probe_endpoints(struct module *m, const struct job *j, struct etcd_probe *probes)
{
	size_t n = j->client.n_endpoints, healthy = etcd_probe_all(&j->client, probes);

	while (module_bool(m, "wait") && healthy < n && !deadline_past(&j->deadline)) {
		sleep_ms(ETCD_POLL_MAX_MS / 2);
		healthy = etcd_probe_all(&j->client, probes);
	}
	return healthy;
}

/* The member list; with wait, read again until an endpoint answers or the deadline. */
static int list_with_wait(struct module *m, struct job *j, struct error *err)
{
	int listed = etcd_member_list(&j->client, &j->list, err);

	while (listed < 0 && module_bool(m, "wait") && !deadline_past(&j->deadline)) {
		sleep_ms(ETCD_POLL_MAX_MS / 2);
		etcd_member_list_free(&j->list);
		listed = etcd_member_list(&j->client, &j->list, err);
	}
	return listed;
}

/*
 * target_version: the gate of an upgrade is the members the cluster lists, not the endpoints
 * given (the inventory's: they may lack a member, or name a node not added yet). Once the list
 * is read, j->client probes every listed member's client URLs; a member without any (never
 * started) has no version, which refuses the upgrade.
 */
static int use_listed_endpoints(struct job *j)
{
	size_t n = 0;

	for (size_t i = 0; i < j->list.n_members; i++)
		n += j->list.members[i].n_client_urls;
	j->listed = calloc(n + 1, sizeof(*j->listed));
	if (!j->listed)
		return -1;
	n = 0;
	for (size_t i = 0; i < j->list.n_members; i++)
		for (size_t u = 0; u < j->list.members[i].n_client_urls; u++) {
			const char *url = j->list.members[i].client_urls[u];
			bool seen = false;

			for (size_t k = 0; k < n && !seen; k++)
				seen = etcd_url_same(j->listed[k], url);
			if (!seen)
				j->listed[n++] = url;
		}
	j->client.endpoints = j->listed;
	j->client.n_endpoints = n;
	j->client.current = 0;
	return 0;
}

/*
 * Without target_version: the given endpoints are probed (with wait, until healthy) and the list
 * read through them. With it, the list is read first (with wait, until an endpoint answers) and
 * the listed members are probed: a deploy or upgrade asks once for what it is and whether the
 * cluster may move to target_version.
 */
static int query(struct module *m, struct job *j)
{
	bool gate = module_has(m, "target_version");
	size_t n = j->client.n_endpoints, healthy = 0;
	struct etcd_probe *probes = NULL;
	struct error err;
	int rc = -1, listed = 0;

	if (gate) {
		listed = list_with_wait(m, j, &err);
		if (listed == 0 && use_listed_endpoints(j) < 0)
			return module_fail(m, "out of memory");
		n = j->client.n_endpoints;
	}
	probes = calloc(n + 1, sizeof(*probes)); /* +1: never a 0-byte calloc */
	if (!probes)
		return module_fail(m, "out of memory");
	healthy = probe_endpoints(m, j, probes);
	if (!gate)
		listed = etcd_member_list(&j->client, &j->list, &err);
	report_health(m, j, probes, healthy);
	if (listed < 0) {
		fail_call(m, "endpoints", &err);
		goto out;
	}
	set_members(m, &j->list, 0);
	set_cluster_version(m, j, probes);
	if (module_has(m, "name") || module_has(m, "id") || j->n_peer_urls) {
		struct etcd_member_ref ref = member_ref(m, j);
		const struct etcd_member *found;

		if (etcd_member_find_named(&j->list, &ref, &found, &err) < 0)
			module_fail(m, "%s", err.msg);
		set_member(m, found);
	}
	if (module_bool(m, "wait") && healthy < n) {
		char unhealthy[512];

		etcd_list_unhealthy(probes, n, unhealthy, sizeof(unhealthy));
		module_fail(
		    m, "wait_timeout: %zu of %zu %s still unhealthy after %lld s (%s)%s",
		    n - healthy, n, gate ? "client URLs of the listed members" : "endpoints",
		    module_int(m, "wait_timeout"), unhealthy,
		    gate ? "; an upgrade starts only on a healthy cluster: bring those members "
			   "back (journalctl, systemctl start), then run it again"
			 : "");
		goto out;
	}
	if (gate && check_upgrade(m, j, probes) < 0)
		goto out;
	rc = 0;
out:
	etcd_probes_free(probes, n);
	return rc;
}

/* ---- state=present ------------------------------------------------------------------------- */

/* How the retry loops of module_utils/etcd_cluster.c wait and warn: through this module. */
static long wait_backoff(void *m, const char *what, const struct error *err, long pause_ms)
{
	return module_backoff(m, what, err, pause_ms, ETCD_POLL_MAX_MS);
}

static void wait_warn(void *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void wait_warn(void *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	module_vwarn(m, fmt, ap);
	va_end(ap);
}

static struct etcd_wait job_wait(struct module *m, const struct job *j)
{
	return (struct etcd_wait){.deadline = &j->deadline,
				  .timeout_s = module_int(m, "wait_timeout"),
				  .backoff = wait_backoff,
				  .warn = wait_warn,
				  .ctx = m};
}

/* MemberAdd until etcd accepts it (module_utils/etcd_cluster.c). */
static int add_until_accepted(struct module *m, struct job *j, bool learner, uint64_t *id)
{
	struct etcd_wait w = job_wait(m, j);
	struct error err;

	if (etcd_member_add_until_accepted(&j->client, &j->list, module_str(m, "name"),
					   j->peer_urls, j->n_peer_urls, learner, &w, id, &err) < 0)
		return module_fail(m, "%s", err.msg);
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
		module_set_msg(m, "would add '%s' as a %s", module_str(m, "name"),
			       learner ? "learner" : "voting member");
		return 0;
	}
	set_initial_cluster(m, j, etcd_member_by_id(&j->list, id));
	set_member(m, etcd_member_by_id(&j->list, id));
	module_set_msg(m,
		       "added '%s' (%s) as a %s: start etcd on it with initial_cluster and "
		       "initial_cluster_state=existing%s",
		       module_str(m, "name"), etcd_id_hex(id, hex),
		       learner ? "learner" : "voting member",
		       learner ? ", then run state=present again to promote it" : "");
	return 0;
}

static int promote_member(struct module *m, struct job *j, uint64_t id)
{
	const struct etcd_member *member;
	int rc = 0;

	struct etcd_wait w = job_wait(m, j);
	struct error err;

	if (!m->check_mode) {
		rc = etcd_member_wait_started(&j->client, &j->list, id, module_str(m, "name"), &w,
					      &member, &err);
		if (rc == -ETIMEDOUT)
			set_initial_cluster(m, j, member);
		if (rc == 0)
			rc = etcd_member_promote_until_ready(&j->client, member, &w, &err);
		if (rc < 0)
			return module_fail(m, "%s", err.msg);
		if (list_members(m, j) < 0)
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
	module_set_msg(m, "member %s %s", etcd_member_label(target, label, sizeof(label)),
		       module_changed(m) && m->check_mode ? "would be promoted to a voting member"
		       : module_changed(m)		  ? "promoted to a voting member"
		       : !target->is_learner		  ? "is a voting member"
		       : !target->name[0]		  ? "is a learner that has not started yet"
							  : "is a learner (promote=false)");
	return 0;
}

/* ---- state=absent -------------------------------------------------------------------------- */

/*
 * Refuses (returns -1) a removal that would leave no voter or break quorum, unless forced.
 * *safe says whether the removal keeps a quorum of healthy voters.
 */
static int check_removal(struct module *m, struct job *j, const struct etcd_member *target,
			 bool *safe)
{
	struct etcd_voter_health h;
	char label[128];

	*safe = true;
	if (target->is_learner)
		return 0;
	etcd_count_healthy_voters(&j->client, &j->list, target->id, &h);
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
		module_set_msg(m, "no such member: nothing to remove");
		return 0;
	}
	id = target->id;
	etcd_member_label(target, label, sizeof(label));
	module_set(m, "member_id", etcd_id_json(id));
	if (check_removal(m, j, target, &safe) < 0)
		return -1;
	if (!m->check_mode) {
		struct etcd_wait w = job_wait(m, j);
		struct error err;

		rc = etcd_member_remove_until_accepted(&j->client, id, safe, label, &w, &err);
		if (rc < 0)
			return module_fail(m, "%s", err.msg);
		/* A removed member may still answer for a moment with its old view. */
		if (list_members(m, j) < 0)
			return -1;
	}
	module_set_changed(m, rc == 0);
	module_set_str(m, "action", rc == 0 ? "removed" : "none");
	set_members(m, &j->list, id);
	module_set_msg(m, "%s %s",
		       rc == 1	       ? "already gone:"
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
	module_set_msg(m, "%s", figures);
	return 0;
}

/* ---- state=leader_moved (before a member's restart) --------------------------------------- */

static int leader_moved(struct module *m, struct job *j)
{
	struct etcd_member_ref ref = member_ref(m, j);
	struct etcd_wait w = job_wait(m, j);
	struct etcd_leader_move mv;
	char other[128];
	struct error err;
	bool asked;

	if (etcd_leader_move_away(&j->client, &j->list, &ref, m->check_mode, &w, &mv, &err) < 0)
		return module_fail(m, "%s", err.msg);
	asked = mv.asked;
	module_set_changed(m, asked);
	module_set_str(m, "action", asked ? "moved" : "none");
	set_members(m, &j->list, 0);
	module_set(m, "member_id", etcd_id_json(mv.member));
	module_set(m, "previous_leader", etcd_id_json(mv.first_leader));
	module_set(m, "leader", etcd_id_json(m->check_mode && asked ? mv.transferee : mv.leader));
	module_set(m, "transferee", etcd_id_json(asked ? mv.transferee : 0));
	if (asked)
		module_set_msg(m, "%s leadership of %s to %s",
			       m->check_mode ? "would hand the" : "handed the", mv.label,
			       etcd_label_of(&j->list, mv.transferee, other, sizeof(other)));
	else
		module_set_msg(m, "%s is not the leader (the leader is %s): nothing to do",
			       mv.label, etcd_label_of(&j->list, mv.leader, other, sizeof(other)));
	return 0;
}

/* ---- state=healthy (after a member's restart) ---------------------------------------------- */

static int healthy_state(struct module *m, struct job *j)
{
	struct etcd_member_ref ref = member_ref(m, j);
	struct etcd_wait w = job_wait(m, j);
	const struct etcd_member *target;
	struct etcd_catch_up c;
	struct error err;
	char label[128], leader[128];

	if (etcd_member_wait_caught_up(&j->client, &j->list, &ref,
				       (uint64_t)module_int(m, "max_lag"), &w, &c, &target,
				       &err) < 0)
		return module_fail(m, "%s", err.msg);
	module_set_changed(m, false);
	set_members(m, &j->list, 0);
	set_member(m, target);
	module_set(m, "leader", etcd_id_json(c.leader));
	module_set_bool(m, "healthy", true);
	module_set_int(m, "applied_index", (long long)c.applied);
	module_set_int(m, "leader_raft_index", (long long)c.leader_index);
	module_set_int(m, "lag", (long long)c.lag);
	module_set_bool(m, "is_learner", c.is_learner);
	module_set_msg(m,
		       "member %s is healthy and caught up: applied index %" PRIu64
		       ", leader %s at %" PRIu64 " (lag %" PRIu64 ", max_lag %lld)",
		       etcd_member_label(target, label, sizeof(label)), c.applied,
		       etcd_label_of(&j->list, c.leader, leader, sizeof(leader)), c.leader_index,
		       c.lag, module_int(m, "max_lag"));
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

/* run_STATE: with_job(m, STATE), the handler the states table names. */
#define JOB_STATE(fn)                                                                              \
	static int run_##fn(struct module *m)                                                      \
	{                                                                                          \
		return with_job(m, fn);                                                            \
	}
JOB_STATE(query)
JOB_STATE(present)
JOB_STATE(absent)
JOB_STATE(leader_moved)
JOB_STATE(healthy_state)

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
    {"query", run_query},	    {"present", run_present},
    {"absent", run_absent},	    {"leader_moved", run_leader_moved},
    {"healthy", run_healthy_state}, {0},
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
