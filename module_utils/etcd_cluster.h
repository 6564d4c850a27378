/*
 * etcd_cluster: looks at a whole etcd cluster for etcd_member, built from etcd.c calls and
 * etcd_probe.c probes: the health of the voters (before a removal), the leadership (before a
 * member's restart), how far a member is behind its leader (after it), the versions the members
 * run (before an upgrade), and what a TLS failure usually means. Mechanics and wording of the
 * figures only: whether to add, remove, promote, move or refuse is the module's decision.
 *
 * The waits (add, promote, remove, leadership, catch-up) retry until a deadline and tell the
 * module through struct etcd_wait; their messages name what to run instead, as the module's own.
 *
 * Ownership: strings written into caller buffers; returned char * and json_t * are the caller's;
 * lists passed in are replaced in place (the old one freed).
 */
#ifndef ETCD_ANSIBLE_ETCD_CLUSTER_H
#define ETCD_ANSIBLE_ETCD_CLUSTER_H

#include "error.h"
#include "etcd.h"
#include "etcd_probe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Between two looks at a member that is starting, catching up or being reconfigured. */
#define ETCD_POLL_MIN_MS 250L
#define ETCD_POLL_MAX_MS 2000L

/* ---- TLS ------------------------------------------------------------------------------------ */

/*
 * What a TLS failure usually means, from the reason http.c and etcd.c found, as " (...)" to
 * append to the message, or "". tls holds the client's ca_file/cert_file (NULL when not set);
 * a refused client certificate is judged locally against ca_file (x509.c).
 */
const char *etcd_tls_hint(const struct http_tls *tls, const struct error *err);

/* ---- which member the options name -------------------------------------------------------- */

/* What the module's options say about the member it acts on (NULL/0 when not given). */
struct etcd_member_ref {
	const char *id;	  /* hex (as etcdctl prints it) or decimal */
	const char *name; /* --name */
	const char *const *peer_urls;
	size_t n_peer_urls;
};

/* The member ref->id names, trying its hex then its decimal reading; -EINVAL ("id: ...") when
 * id is not an id, 0 with *found NULL when no member has it. */
int etcd_member_find_id(const struct etcd_member_list *list, const char *id,
			const struct etcd_member **found, struct error *err);

/* The member ref names by id, else name, else peer URLs, without judging conflicts (query). */
int etcd_member_find_named(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			   const struct etcd_member **found, struct error *err);

/*
 * The member present/absent act on: by id, else by name and peer URLs, which must describe one
 * member or none (-EINVAL saying how they differ). 0 with *found NULL when there is none.
 */
int etcd_member_find_target(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			    const struct etcd_member **found, struct error *err);

/*
 * The running member ref names, by id (when given) or name: -EINVAL for an id that is not one,
 * -ENOENT ("no member named 'x' in the cluster") when there is none.
 */
int etcd_member_find_running(const struct etcd_member_list *list, const struct etcd_member_ref *ref,
			     const struct etcd_member **found, struct error *err);

/* ---- health and versions -------------------------------------------------------------------- */

/* The health array of state=query: one entry per probe, with the TLS hint in its error. */
json_t *etcd_health_json(const struct etcd_client *c, const struct etcd_probe *probes);
/* The leader the first endpoint that answered knows, or 0. */
uint64_t etcd_probes_leader(const struct etcd_probe *probes, size_t n);

/* "https://a:2379, https://b:2379" of the unhealthy probes, into buf. */
void etcd_list_unhealthy(const struct etcd_probe *probes, size_t n, char *buf, size_t size);

/* What /version of the first endpoint that answered says the cluster version is (caller frees);
 * NULL when none says (3.4 and 3.5 alike). */
char *etcd_cluster_version_dup(struct etcd_client *c, const struct etcd_probe *probes);

/* The probe of the member `id` (its own endpoint answered Status with a version), or NULL. */
const struct etcd_probe *etcd_probe_by_member(const struct etcd_client *c,
					      const struct etcd_probe *probes, uint64_t id);

/*
 * Each member's version (versions[i] of list->members[i]) as its own endpoint's Status says
 * (the server version); by_member gets "name": "3.5.16" as they are read. -ENOENT with *unknown
 * the first member whose version cannot be read (down, not started, not in endpoints).
 */
int etcd_member_versions(const struct etcd_client *c, const struct etcd_member_list *list,
			 const struct etcd_probe *probes, struct etcd_semver *versions,
			 json_t *by_member, const struct etcd_member **unknown);

/* "3.4.23 on a, b; 3.5.16 on c" into buf: each version once, oldest first, with the members
 * that run it (versions[i] is list->members[i]'s). */
void etcd_describe_versions(const struct etcd_member_list *list, const struct etcd_semver *versions,
			    char *buf, size_t size);

/* ---- membership changes (etcd_member state=present/absent) ---------------------------------- */

/*
 * How the loops below wait: until deadline (wait_timeout seconds after the start, named in the
 * messages); between two attempts backoff says on stderr what is awaited, sleeps and returns the
 * next pause; warn adds a warning to the result. ctx is passed to both (the module).
 */
struct etcd_wait {
	const struct timespec *deadline;
	long long timeout_s;
	long (*backoff)(void *ctx, const char *what, const struct error *err, long pause_ms);
	void (*warn)(void *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	void *ctx;
};

/*
 * MemberAdd of name with peer_urls, as a learner or a voter, retried while etcd answers
 * "unhealthy cluster" (strict reconfiguration check) until the deadline. *list becomes the
 * members after the add and *id the new member's. A lost answer whose member is there anyway is
 * a success (with a warning). Otherwise err says why, with a hint for the usual refusals.
 */
int etcd_member_add_until_accepted(struct etcd_client *c, struct etcd_member_list *list,
				   const char *name, const char *const *peer_urls, size_t n,
				   bool learner, const struct etcd_wait *w, uint64_t *id,
				   struct error *err);

/*
 * Waits until the learner `id` has started (published its name), listing the members again
 * every ETCD_POLL_MAX_MS / 2. -ETIMEDOUT (with *member the learner, not started) past the
 * deadline; -ENOENT when it left the cluster; another negative errno when no endpoint answers.
 */
int etcd_member_wait_started(struct etcd_client *c, struct etcd_member_list *list, uint64_t id,
			     const char *name, const struct etcd_wait *w,
			     const struct etcd_member **member, struct error *err);

/* MemberPromote, retried while the learner is not caught up until the deadline. 0 promoted,
 * 1 already a voter (someone promoted it meanwhile), negative with err otherwise. */
int etcd_member_promote_until_ready(struct etcd_client *c, const struct etcd_member *learner,
				    const struct etcd_wait *w, struct error *err);

/* MemberRemove of id (label names it), retried on "unhealthy cluster" only when the removal
 * was judged safe. 0 removed, 1 already gone, negative with err otherwise. */
int etcd_member_remove_until_accepted(struct etcd_client *c, uint64_t id, bool safe,
				      const char *label, const struct etcd_wait *w,
				      struct error *err);

/* ---- voters (before a removal) -------------------------------------------------------------- */

/* Health of the voters, seen through the endpoints and the voters' own client URLs. */
struct etcd_voter_health {
	size_t voters, healthy;
	bool target_healthy;
	char unhealthy[ERROR_MSG_MAX]; /* "name: reason; ..." */
};

/* Counts the healthy voters of list; target's own health goes to h->target_healthy. */
void etcd_count_healthy_voters(struct etcd_client *c, const struct etcd_member_list *list,
			       uint64_t target, struct etcd_voter_health *h);

/* ---- leadership (before a restart) ---------------------------------------------------------- */

/* What leader_moved saw and did. */
struct etcd_leader_move {
	uint64_t member;       /* the member that is to give the leadership up */
	uint64_t first_leader; /* the leader at the first look */
	uint64_t leader;       /* at the last look */
	uint64_t transferee;   /* the member asked to take it over */
	bool asked;	       /* a transfer was asked (with dry_run: would be) */
	char label[128];       /* "'name' (id)" of member */
};

/*
 * Until the member ref names (running: by id or name) does not lead: when it leads, the
 * leadership is handed to the most caught-up healthy voter (MoveLeader at the leader's own
 * client URL), retried until the deadline; with dry_run nothing is asked. An only voter keeps it
 * (with a warning). Negative with err when the member is not found, no endpoint answers, or the
 * deadline passed.
 */
int etcd_leader_move_away(struct etcd_client *c, struct etcd_member_list *list,
			  const struct etcd_member_ref *ref, bool dry_run,
			  const struct etcd_wait *w, struct etcd_leader_move *mv,
			  struct error *err);

/* ---- catching up (after a restart) ---------------------------------------------------------- */

/* Where a member stands against the leader. */
struct etcd_catch_up {
	uint64_t leader, leader_index, applied, lag;
	bool is_learner;
};

/*
 * Until the member ref names (running: by id or name) is healthy and within max_lag raft
 * entries of its leader, looking again with backoff until the deadline; *target is then that
 * member (in *list). Negative with err when it is not found or the deadline passed.
 */
int etcd_member_wait_caught_up(struct etcd_client *c, struct etcd_member_list *list,
			       const struct etcd_member_ref *ref, uint64_t max_lag,
			       const struct etcd_wait *w, struct etcd_catch_up *cu,
			       const struct etcd_member **target, struct error *err);

#endif
