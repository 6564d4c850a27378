#include "etcd_cluster.h"

#include "clock.h"
#include "x509.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- TLS ------------------------------------------------------------------------------------ */

/* Why the cluster may refuse cert_file, judged locally against ca_file; NULL if it chains. */
static const char *client_cert_problem(const struct http_tls *tls)
{
	STACK_OF(X509) *chain = NULL;
	X509 *root = NULL;
	const char *problem = NULL;
	struct error err;
	int rc;

	if (!tls->cert_file || !tls->ca_file)
		return NULL;
	chain = x509_read_pem_chain(tls->cert_file, &err);
	root = x509_read_pem(tls->ca_file, &err);
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

const char *etcd_tls_hint(const struct http_tls *tls, const struct error *err)
{
	const char *problem;

	switch (err->reason) {
	case ERROR_TLS_UNTRUSTED:
		return tls->ca_file
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
	if (!tls->cert_file)
		return " (the endpoint closed the TLS connection: it requires a client "
		       "certificate; set client_cert and client_key)";
	problem = client_cert_problem(tls);
	return problem
		   ? problem
		   : " (the endpoint closed the TLS connection: it may have refused client_cert; "
		     "it must be signed by the CA the cluster trusts and allow client "
		     "authentication)";
}

/* ---- which member the options name -------------------------------------------------------- */

int etcd_member_find_id(const struct etcd_member_list *list, const char *id,
			const struct etcd_member **found, struct error *err)
{
	uint64_t ids[2];
	struct error why;
	int n = etcd_id_parse(id, ids, &why);

	*found = NULL;
	if (n < 0)
		return error_set(err, -EINVAL, "id: %s", why.msg);
	for (int i = 0; i < n && !*found; i++)
		*found = etcd_member_by_id(list, ids[i]);
	return 0;
}

int etcd_member_find_named(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			   const struct etcd_member **found, struct error *err)
{
	*found = NULL;
	if (ref->id && etcd_member_find_id(list, ref->id, found, err) < 0)
		return -EINVAL;
	if (!*found)
		*found = etcd_member_by_name(list, ref->name);
	if (!*found && ref->n_peer_urls)
		*found = etcd_member_by_peer_urls(list, ref->peer_urls, ref->n_peer_urls);
	return 0;
}

/* name and peer_urls must describe one member, or none. */
static int check_same_member(const struct etcd_member_ref *ref, const struct etcd_member *by_name,
			     const struct etcd_member *by_urls, struct error *err)
{
	char a[128], b[128];

	if (by_name && by_urls && by_name != by_urls)
		return error_set(err, -EINVAL,
				 "name and peer_urls name two different members: %s and %s",
				 etcd_member_label(by_name, a, sizeof(a)),
				 etcd_member_label(by_urls, b, sizeof(b)));
	if (by_urls && !by_name && by_urls->name[0])
		return error_set(err, -EINVAL, "peer_urls: already used by member %s, not '%s'",
				 etcd_member_label(by_urls, a, sizeof(a)), ref->name);
	if ((by_name || by_urls) && ref->n_peer_urls) {
		const struct etcd_member *found = by_name ? by_name : by_urls;

		if (!etcd_urls_equal(found->peer_urls, found->n_peer_urls, ref->peer_urls,
				     ref->n_peer_urls))
			return error_set(err, -EINVAL,
					 "peer_urls: member %s has other peer URLs (%s...); "
					 "remove it first (state=absent) or correct peer_urls",
					 etcd_member_label(found, a, sizeof(a)),
					 found->n_peer_urls ? found->peer_urls[0] : "none");
	}
	return 0;
}

int etcd_member_find_target(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			    const struct etcd_member **found, struct error *err)
{
	const struct etcd_member *by_name, *by_urls;

	*found = NULL;
	if (ref->id)
		return etcd_member_find_id(list, ref->id, found, err);
	by_name = etcd_member_by_name(list, ref->name);
	by_urls = ref->n_peer_urls
		      ? etcd_member_by_peer_urls(list, ref->peer_urls, ref->n_peer_urls)
		      : NULL;
	if (check_same_member(ref, by_name, by_urls, err) < 0)
		return -EINVAL;
	*found = by_name ? by_name : by_urls;
	return 0;
}

int etcd_member_find_running(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			     const struct etcd_member **found, struct error *err)
{
	*found = NULL;
	if (ref->id && etcd_member_find_id(list, ref->id, found, err) < 0)
		return -EINVAL;
	if (!ref->id)
		*found = etcd_member_by_name(list, ref->name);
	if (*found)
		return 0;
	error_set(err, -ENOENT, "no member %s '%s' in the cluster", ref->id ? "with id" : "named",
		  ref->id ? ref->id : ref->name);
	return -ENOENT;
}

/* ---- health and versions -------------------------------------------------------------------- */

json_t *etcd_health_json(const struct etcd_client *c, const struct etcd_probe *probes)
{
	json_t *health = json_array();

	for (size_t i = 0; health && i < c->n_endpoints; i++)
		json_array_append_new(
		    health,
		    etcd_probe_json(probes[i].healthy ? "" : etcd_tls_hint(&c->tls, &probes[i].err),
				    &probes[i]));
	return health;
}

uint64_t etcd_probes_leader(const struct etcd_probe *probes, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (probes[i].answered && probes[i].status.leader)
			return probes[i].status.leader;
	return 0;
}

void etcd_list_unhealthy(const struct etcd_probe *probes, size_t n, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++)
		if (!probes[i].healthy)
			used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
						 probes[i].endpoint);
}

char *etcd_cluster_version_dup(struct etcd_client *c, const struct etcd_probe *probes)
{
	char *server = NULL, *cluster = NULL;
	struct error err;

	for (size_t i = 0; i < c->n_endpoints; i++) {
		if (!probes[i].answered ||
		    etcd_version_get(c, probes[i].endpoint, &server, &cluster, &err) < 0)
			continue;
		free(server);
		return cluster;
	}
	return NULL;
}

const struct etcd_probe *etcd_probe_by_member(const struct etcd_client *c,
					      const struct etcd_probe *probes, uint64_t id)
{
	for (size_t i = 0; i < c->n_endpoints; i++)
		if (probes[i].answered && probes[i].status.member_id == id &&
		    probes[i].status.version)
			return &probes[i];
	return NULL;
}

int etcd_member_versions(const struct etcd_client *c, const struct etcd_member_list *list,
			 const struct etcd_probe *probes, struct etcd_semver *versions,
			 json_t *by_member, const struct etcd_member **unknown)
{
	for (size_t i = 0; i < list->n_members; i++) {
		const struct etcd_member *member = &list->members[i];
		const struct etcd_probe *p = etcd_probe_by_member(c, probes, member->id);

		if (!p || etcd_semver_parse(p->status.version, &versions[i]) < 0) {
			*unknown = member;
			return -ENOENT;
		}
		json_object_set_new(by_member, member->name[0] ? member->name : "(not started)",
				    json_string(p->status.version));
	}
	return 0;
}

/* (etcd's member order follows the random member IDs.) */
void etcd_describe_versions(const struct etcd_member_list *list, const struct etcd_semver *versions,
			    char *buf, size_t size)
{
	size_t used = 0, n = list->n_members;
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
							 list->members[k].name);
		last = next;
	}
}

/* ---- membership changes -------------------------------------------------------------------- */

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
static int add_failed(struct etcd_client *c, struct etcd_member_list *list, const char *name,
		      const char *const *peer_urls, size_t n, const struct etcd_wait *w,
		      const struct error *why, uint64_t *id, struct error *err)
{
	const struct etcd_member *found = NULL;
	struct etcd_member_list now;
	struct error list_err;

	if (etcd_member_list(c, &now, &list_err) == 0)
		found = etcd_member_by_peer_urls(&now, peer_urls, n);
	if (found) {
		w->warn(w->ctx, "MemberAdd answered '%s', but the member is in the cluster now",
			why->msg);
		*id = found->id;
		etcd_member_list_free(list);
		*list = now;
		return 0;
	}
	etcd_member_list_free(&now);
	return error_set_reason(err, why->reason, -EIO,
				"cannot add member '%s' (peer_urls %s): %s%s%s", name, peer_urls[0],
				why->msg, add_hint(why), etcd_tls_hint(&c->tls, why));
}

/*
 * With --strict-reconfig-check (the default) etcd refuses any add, learners included, with
 * "unhealthy cluster" until every voter has been connected for 5 s (etcdserver mayAddMember,
 * HealthInterval): just after a start or a restart. A refusal changed nothing, so it is retried.
 */
int etcd_member_add_until_accepted(struct etcd_client *c, struct etcd_member_list *list,
				   const char *name, const char *const *peer_urls, size_t n,
				   bool learner, const struct etcd_wait *w, uint64_t *id,
				   struct error *err)
{
	struct etcd_member_list after;
	long pause = ETCD_POLL_MIN_MS;
	struct error why;

	while (etcd_member_add(c, peer_urls, n, learner, id, &after, &why) < 0) {
		if (why.reason != ERROR_UNHEALTHY || deadline_past(w->deadline))
			return add_failed(c, list, name, peer_urls, n, w, &why, id, err);
		pause = w->backoff(w->ctx, "member add refused", &why, pause);
	}
	etcd_member_list_free(list);
	*list = after;
	return 0;
}

/* A learner has started once it has published its name and client URLs (etcdserver publish). */
int etcd_member_wait_started(struct etcd_client *c, struct etcd_member_list *list, uint64_t id,
			     const char *name, const struct etcd_wait *w,
			     const struct etcd_member **member, struct error *err)
{
	char label[128];
	struct error why;

	for (;;) {
		*member = etcd_member_by_id(list, id);
		if (!*member)
			return error_set(err, -ENOENT,
					 "member %" PRIx64 " left the cluster while waiting for "
					 "it to start",
					 id);
		if ((*member)->name[0])
			return 0;
		if (deadline_past(w->deadline))
			return error_set(err, -ETIMEDOUT,
					 "wait_timeout: learner %s was added but has not started "
					 "within %lld s: start etcd on it with --name %s "
					 "--initial-cluster-state existing and --initial-cluster "
					 "as initial_cluster shows, then run again",
					 etcd_member_label(*member, label, sizeof(label)),
					 w->timeout_s, name);
		sleep_ms(ETCD_POLL_MAX_MS / 2);
		*member = NULL;
		etcd_member_list_free(list);
		if (etcd_member_list(c, list, &why) < 0)
			return error_set_reason(err, why.reason, -EIO, "endpoints: %s%s", why.msg,
						etcd_tls_hint(&c->tls, &why));
	}
}

/* "; raft index: learner N, cluster M" (or "unknown") for a timeout message (best effort). */
static void etcd_describe_lag(struct etcd_client *c, const struct etcd_member *learner, char *buf,
			      size_t size)
{
	struct etcd_status mine = {0}, leader = {0};
	struct error err;
	bool have_mine =
	    learner->n_client_urls && etcd_status(c, learner->client_urls[0], &mine, &err) == 0;
	bool have_leader = etcd_status(c, c->endpoints[c->current], &leader, &err) == 0;

	snprintf(buf, size, "; raft index: learner %s%llu, cluster %s%llu",
		 have_mine ? "" : "unknown ", have_mine ? (unsigned long long)mine.raft_index : 0,
		 have_leader ? "" : "unknown ",
		 have_leader ? (unsigned long long)leader.raft_index : 0);
	etcd_status_free(&mine);
	etcd_status_free(&leader);
}

/*
 * etcd refuses a promotion while the learner is behind the leader (the leader wants its match
 * index within 90% of its own: etcdserver isLearnerReady), so it is retried with backoff.
 */
int etcd_member_promote_until_ready(struct etcd_client *c, const struct etcd_member *learner,
				    const struct etcd_wait *w, struct error *err)
{
	long pause = ETCD_POLL_MIN_MS;
	char label[128], lag[160];
	uint64_t id = learner->id;
	struct error why;

	etcd_member_label(learner, label, sizeof(label));
	while (etcd_member_promote(c, id, &why) < 0) {
		if (why.reason != ERROR_LEARNER_NOT_READY) {
			if (why.reason == ERROR_NOT_LEARNER)
				return 1; /* a voter already: someone promoted it meanwhile */
			return error_set_reason(err, why.reason, -EIO, "cannot promote: %s%s",
						why.msg, etcd_tls_hint(&c->tls, &why));
		}
		if (deadline_past(w->deadline)) {
			etcd_describe_lag(c, learner, lag, sizeof(lag));
			return error_set(err, -ETIMEDOUT,
					 "wait_timeout: learner %s has not caught up with the "
					 "leader within %lld s: %s%s",
					 label, w->timeout_s, why.msg, lag);
		}
		pause = w->backoff(w->ctx, "learner not ready for promotion", &why, pause);
	}
	return 0;
}

/*
 * etcd (--strict-reconfig-check, on by default) answers "unhealthy cluster" unless a quorum of
 * the remaining voters has been connected for 5 s (etcdserver mayRemoveMember, HealthInterval):
 * right after a member restarted that passes, so a removal judged safe is retried.
 */
int etcd_member_remove_until_accepted(struct etcd_client *c, uint64_t id, bool safe,
				      const char *label, const struct etcd_wait *w,
				      struct error *err)
{
	long pause = ETCD_POLL_MIN_MS;
	struct error why;

	while (etcd_member_remove(c, id, &why) < 0) {
		if (why.reason == ERROR_NOT_FOUND)
			return 1; /* removed by someone else meanwhile */
		if (!safe || why.reason != ERROR_UNHEALTHY || deadline_past(w->deadline))
			return error_set_reason(err, why.reason, -EIO, "cannot remove %s: %s%s%s",
						label, why.msg,
						why.reason == ERROR_UNHEALTHY
						    ? " (etcd's strict reconfiguration check: the "
						      "remaining voters cannot keep a quorum)"
						    : "",
						etcd_tls_hint(&c->tls, &why));
		pause = w->backoff(w->ctx, "member remove refused", &why, pause);
	}
	return 0;
}

/* ---- voters --------------------------------------------------------------------------------- */

void etcd_count_healthy_voters(struct etcd_client *c, const struct etcd_member_list *list,
			       uint64_t target, struct etcd_voter_health *h)
{
	size_t n = c->n_endpoints, used = 0;
	struct etcd_probe *probes = calloc(n + 1, sizeof(*probes)); /* +1: never a 0-byte calloc */
	struct error why;

	memset(h, 0, sizeof(*h));
	if (probes)
		etcd_probe_all(c, probes);
	for (size_t i = 0; probes && i < list->n_members; i++) {
		const struct etcd_member *member = &list->members[i];
		bool healthy;

		if (member->is_learner)
			continue;
		h->voters++;
		healthy = etcd_member_healthy(c, member, probes, &why);
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

/* ---- leadership ----------------------------------------------------------------------------- */

/* One look at the cluster: the members' probes and states, the leader. */
struct etcd_leadership {
	struct etcd_probe *probes;
	struct etcd_member_state *states;
	size_t n;
	uint64_t leader;
};

static void etcd_leadership_free(struct etcd_leadership *l)
{
	etcd_probes_free(l->probes, l->n);
	free(l->states);
	memset(l, 0, sizeof(*l));
}

/* Probes every member of list (l is freed first); -ENOMEM only. */
static int etcd_leadership_look(struct etcd_client *c, const struct etcd_member_list *list,
				struct etcd_leadership *l)
{
	etcd_leadership_free(l);
	l->n = list->n_members;
	l->probes = calloc(l->n + 1, sizeof(*l->probes));
	l->states = calloc(l->n + 1, sizeof(*l->states));
	if (!l->probes || !l->states)
		return -ENOMEM;
	etcd_probe_members(c, list, l->probes, l->states, &l->leader);
	return 0;
}

/* "'a': reason; 'b': reason" of the voters other than `leaving` that are not healthy. */
static void list_unfit(const struct etcd_member_list *list, const struct etcd_leadership *l,
		       uint64_t leaving, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < l->n && used < size; i++)
		if (l->states[i].id != leaving && l->states[i].voter && !l->states[i].healthy)
			used += (size_t)snprintf(buf + used, size - used, "%s'%s': %s",
						 used ? "; " : "", list->members[i].name,
						 l->probes[i].err.msg);
}

/*
 * One transfer attempt from the leader `from` (index in l) to the best transferee; with dry_run
 * nothing is asked. Returns 1 when it was asked (and accepted), 0 when it should be tried again
 * later (*why says why).
 */
static int etcd_transfer_once(struct etcd_client *c, const struct etcd_member_list *list,
			      const struct etcd_leadership *l, size_t from, bool dry_run,
			      uint64_t *transferee, struct error *why)
{
	int pick = etcd_transferee(l->states, l->n, l->states[from].id);
	char unfit[512];

	if (pick < 0) {
		list_unfit(list, l, l->states[from].id, unfit, sizeof(unfit));
		error_set(why, -EAGAIN, "no healthy voting member to hand the leadership to (%s)",
			  unfit[0] ? unfit : "none");
		return 0;
	}
	*transferee = l->states[pick].id;
	if (dry_run)
		return 1;
	if (!l->probes[from].answered) {
		error_set(why, -EAGAIN, "the leader does not answer at its client URLs: %s",
			  l->probes[from].err.msg);
		return 0;
	}
	if (etcd_move_leader(c, l->probes[from].endpoint, *transferee, why) < 0)
		return 0;
	return 1;
}

/* ---- catching up ---------------------------------------------------------------------------- */

/*
 * One look: target healthy, the leader's committed index read first, then target's applied
 * index (read second, so that entries committed between the two calls never count as lag).
 * Returns 1 when within max_lag, 0 when not (*why says why).
 */
static int etcd_catch_up_look(struct etcd_client *c, const struct etcd_member_list *list,
			      const struct etcd_member *target, uint64_t max_lag,
			      struct etcd_catch_up *cu, struct error *why)
{
	const struct etcd_member *leader;
	struct etcd_probe p = {0}, lp = {0};
	char label[128], leader_label[128];
	int rc = 0;

	memset(cu, 0, sizeof(*cu));
	etcd_member_label(target, label, sizeof(label));
	cu->is_learner = target->is_learner;
	if (!etcd_probe_member(c, target, &p)) {
		error_set(why, -EAGAIN, "%s is not healthy: %s", label, p.err.msg);
		goto out;
	}
	cu->leader = p.status.leader;
	leader = etcd_member_by_id(list, cu->leader);
	if (!leader) {
		error_set(why, -EAGAIN, "%s knows no leader", label);
		goto out;
	}
	if (leader != target && !etcd_probe_member(c, leader, &lp)) {
		error_set(why, -EAGAIN, "the leader is not healthy: %s", lp.err.msg);
		goto out;
	}
	cu->leader_index = leader == target ? p.status.raft_index : lp.status.raft_index;
	/* A follower is asked again, after its leader: its applied index is then the newer one.
	 * The leader's own answer is kept (freeing it would read its applied index as 0). */
	if (leader != target) {
		etcd_status_free(&p.status);
		if (!etcd_probe_member(c, target, &p)) {
			error_set(why, -EAGAIN, "%s is not healthy: %s", label, p.err.msg);
			goto out;
		}
	}
	/* raftAppliedIndex is 3.4+; a zero (omitted) one falls back to the committed index. */
	cu->applied =
	    p.status.raft_applied_index ? p.status.raft_applied_index : p.status.raft_index;
	cu->lag = etcd_raft_lag(cu->leader_index, cu->applied);
	rc = cu->lag <= max_lag;
	if (!rc)
		error_set(why, -EAGAIN,
			  "%s has applied index %" PRIu64 ", the leader %s is at %" PRIu64
			  ": %" PRIu64 " entries behind (max_lag %" PRIu64 ")",
			  label, cu->applied,
			  etcd_member_label(leader, leader_label, sizeof(leader_label)),
			  cu->leader_index, cu->lag, max_lag);
out:
	etcd_status_free(&p.status);
	etcd_status_free(&lp.status);
	return rc;
}

/* ---- the waits of leader_moved and healthy ------------------------------------------------ */

/* One round of leader_moved: 1 when done, 0 to look again (*why says why), <0 on failure. */
static int leader_move_round(struct etcd_client *c, struct etcd_member_list *list,
			     const struct etcd_member_ref *ref, bool dry_run,
			     const struct etcd_wait *w, struct etcd_leadership *l,
			     struct etcd_leader_move *mv, struct error *why, struct error *err)
{
	const struct etcd_member *target;
	struct error list_err;

	etcd_leadership_free(l);
	etcd_member_list_free(list);
	if (etcd_member_list(c, list, &list_err) < 0)
		return error_set_reason(err, list_err.reason, -EIO, "endpoints: %s%s", list_err.msg,
					etcd_tls_hint(&c->tls, &list_err));
	if (etcd_leadership_look(c, list, l) < 0)
		return error_set(err, -ENOMEM, "out of memory");
	if (etcd_member_find_running(list, ref, &target, err) < 0)
		return -EINVAL;
	mv->member = target->id;
	etcd_member_label(target, mv->label, sizeof(mv->label));
	if (!mv->first_leader)
		mv->first_leader = l->leader;
	mv->leader = l->leader;
	if (l->leader && l->leader != target->id)
		return 1; /* Not (or no longer) the leader: done. */
	if (l->leader == target->id && etcd_voter_count(list) == 1) {
		w->warn(w->ctx, "%s is the only voting member: the leadership stays", mv->label);
		return 1;
	}
	error_set(why, -EAGAIN, "no healthy member knows a leader");
	if (l->leader == target->id) {
		size_t from = (size_t)(target - list->members);
		int done = etcd_transfer_once(c, list, l, from, dry_run, &mv->transferee, why);

		if (done && dry_run) {
			mv->asked = true;
			return 1;
		}
		mv->asked = mv->asked || done;
	}
	return 0;
}

int etcd_leader_move_away(struct etcd_client *c, struct etcd_member_list *list,
			  const struct etcd_member_ref *ref, bool dry_run,
			  const struct etcd_wait *w, struct etcd_leader_move *mv, struct error *err)
{
	struct etcd_leadership l = {0};
	long pause = ETCD_POLL_MIN_MS;
	struct error why;
	int rc;

	memset(mv, 0, sizeof(*mv));
	while ((rc = leader_move_round(c, list, ref, dry_run, w, &l, mv, &why, err)) == 0) {
		if (deadline_past(w->deadline)) {
			rc = error_set(err, -ETIMEDOUT, "wait_timeout: %s %s within %lld s: %s",
				       mv->label,
				       mv->asked ? "was asked to hand the leadership over, but no "
						   "other leader was seen"
						 : "still leads",
				       w->timeout_s, why.msg);
			break;
		}
		pause = w->backoff(w->ctx, "leadership not moved yet", &why, pause);
	}
	etcd_leadership_free(&l);
	return rc < 0 ? rc : 0;
}

int etcd_member_wait_caught_up(struct etcd_client *c, struct etcd_member_list *list,
			       const struct etcd_member_ref *ref, uint64_t max_lag,
			       const struct etcd_wait *w, struct etcd_catch_up *cu,
			       const struct etcd_member **target, struct error *err)
{
	long pause = ETCD_POLL_MIN_MS;
	struct error why;

	for (;;) {
		int rc = 0;

		memset(cu, 0, sizeof(*cu));
		*target = NULL;
		etcd_member_list_free(list);
		/* no endpoint answers right now: look again */
		if (etcd_member_list(c, list, &why) == 0) {
			if (etcd_member_find_running(list, ref, target, err) < 0)
				return -EINVAL;
			rc = etcd_catch_up_look(c, list, *target, max_lag, cu, &why);
		}
		if (rc)
			return 0;
		if (deadline_past(w->deadline))
			return error_set(err, -ETIMEDOUT,
					 "wait_timeout: member '%s' is not healthy and caught up "
					 "after %lld s: %s",
					 ref->id ? ref->id : ref->name, w->timeout_s, why.msg);
		pause = w->backoff(w->ctx, "member not healthy and caught up yet", &why, pause);
	}
}
