/*
 * etcd: a client of the etcd v3 JSON gateway (grpc-gateway) over HTTPS with client certificates,
 * for etcd 3.4 and 3.5 (PROTOCOLS §3): cluster member list/add/remove/promote, maintenance status
 * and GET /health. etcd_post() is the door for any other call (kv/range, maintenance/...).
 *
 * Gateway facts this unit is built on (checked against etcd 3.4.23 and 3.5.16, rpc.proto):
 * - every call is a POST of a JSON body to /v3/<service>/<method>: 3.4.23 and 3.5.16 both serve
 *   the gateway under /v3 and /v3beta (/v3alpha is a 404); /v3 is the one that stays;
 * - uint64 fields (IDs, dbSize, raftIndex...) are JSON strings in decimal (proto3 JSON mapping):
 *   cluster and member IDs exceed 2^53 and often INT64_MAX, so they are parsed with strtoull and
 *   never pass through a double;
 * - zero values are omitted: a missing isLearner is false, a missing name is "" (the member was
 *   added but has not started yet), a missing clientURLs is an empty list;
 * - errors come with a mapped HTTP status as {"error": "...", "message": "...", "code": N} from
 *   3.4 and {"code": N, "message": "..."} from 3.5 (no "error"): message is the field to read;
 * - GET /health answers {"health":"true"} (3.4) or {"health":"true","reason":""} (3.5); GET
 *   /version {"etcdserver":"3.5.16","etcdcluster":"3.5.0"} on both.
 *
 * IDs are shown to people as etcdctl and etcd's logs show them: lowercase hex without leading
 * zeros (types.ID.String(), strconv.FormatUint(id, 16)).
 *
 * Endpoints: requests go to the endpoint that answered last, and move on to the next one when an
 * endpoint cannot be reached, is a learner (which serves no client RPC but Status), knows no
 * leader, or has a gateway that cannot reach its own gRPC server; any other error answered by
 * etcd is final. Each attempt has its own timeout.
 *
 * Ownership: parsed structures own their strings; free them with the matching _free(). Strings
 * returned as char * are malloc'ed and freed by the caller.
 */
#ifndef ETCD_ANSIBLE_ETCD_H
#define ETCD_ANSIBLE_ETCD_H

#include "error.h"
#include "http.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A hex ID: 16 digits and a NUL. */
#define ETCD_ID_HEX_SIZE 17

/* An answer etcd gave (not a transport failure): the message is in struct error. */
#define ETCD_EREMOTE (-EREMOTEIO)

struct etcd_client {
	const char *const *endpoints; /* https://host:port, borrowed */
	size_t n_endpoints;
	struct http_tls tls;
	long timeout_ms; /* per request and endpoint; 0 = 5 s */
	size_t current;	 /* index of the endpoint tried first (the last that answered) */
};

struct etcd_member {
	uint64_t id;
	char *name; /* "" until the member has started and published its name */
	char **peer_urls;
	size_t n_peer_urls;
	char **client_urls; /* empty until the member has started */
	size_t n_client_urls;
	bool is_learner;
};

struct etcd_member_list {
	uint64_t cluster_id;
	uint64_t answered_by; /* header.member_id: the member that answered */
	struct etcd_member *members;
	size_t n_members;
};

struct etcd_status {
	uint64_t cluster_id;
	uint64_t member_id; /* header.member_id: the member behind the endpoint */
	uint64_t leader;    /* 0: the member knows no leader */
	uint64_t raft_index, raft_term, raft_applied_index;
	uint64_t db_size, db_size_in_use;
	bool is_learner; /* 3.4+ */
	char *version;
	char *errors; /* the "errors" list (alarms...) joined with "; ", or NULL */
};

/* ---- values ------------------------------------------------------------------------------- */

/*
 * A uint64 field as the gateway renders it: a decimal string, or (tolerated) a non-negative JSON
 * integer; NULL/missing is 0 (zero values are omitted). -EINVAL for anything else.
 */
int etcd_uint64_from_json(const json_t *value, uint64_t *out);

/* id as lowercase hex without leading zeros, into buf (ETCD_ID_HEX_SIZE bytes); returns buf. */
char *etcd_id_hex(uint64_t id, char *buf);

/*
 * A member ID typed by a person: hex as etcdctl prints it (optionally with 0x) or decimal as the
 * JSON API gives it. Digits alone are ambiguous, so ids[] receives every reading that fits in
 * 64 bits (hex first); the caller picks the one that names a member. Returns the number of
 * readings (1 or 2), or -EINVAL with err set.
 */
int etcd_id_parse(const char *text, uint64_t ids[2], struct error *err);

/* ---- parsing answers (no network; the unit tests feed these) ------------------------------ */

int etcd_member_list_parse(const json_t *doc, struct etcd_member_list *out, struct error *err);
void etcd_member_list_free(struct etcd_member_list *list);
int etcd_status_parse(const json_t *doc, struct etcd_status *out, struct error *err);
void etcd_status_free(struct etcd_status *status);
/* The message of a gateway error body (message, else error, else the text itself), into out. */
void etcd_error_text(const char *body, size_t len, char *out, size_t size);

/* ---- membership arithmetic ---------------------------------------------------------------- */

const struct etcd_member *etcd_member_by_id(const struct etcd_member_list *list, uint64_t id);
const struct etcd_member *etcd_member_by_name(const struct etcd_member_list *list,
					      const char *name);
/* The first member that has any of urls among its peer URLs (a trailing "/" is ignored). */
const struct etcd_member *etcd_member_by_peer_urls(const struct etcd_member_list *list,
						   const char *const *urls, size_t n_urls);
/* true when both are the same URL, a trailing "/" aside. */
bool etcd_url_same(const char *a, const char *b);
/* true when both hold the same URLs, in any order. */
bool etcd_urls_equal(char *const *a, size_t n_a, const char *const *b, size_t n_b);
size_t etcd_voter_count(const struct etcd_member_list *list);

/*
 * --initial-cluster for a member joining: name=peer_url for every peer URL of every member, the
 * member `id` under `name` (it has no name yet); as etcdctl member add prints it
 * (etcdctl/ctlv3/command/member_command.go). Members not in the list yet are added by the
 * caller's extra pair (extra_name, extra_urls), used to predict the string in check mode.
 * Returns a new string (caller frees) or NULL when out of memory.
 */
char *etcd_initial_cluster(const struct etcd_member_list *list, uint64_t id, const char *name,
			   const char *extra_name, const char *const *extra_urls, size_t n_extra);

/* Votes needed for a decision among `voters` voting members: floor(n/2) + 1 (raft). */
size_t etcd_quorum(size_t voters);

enum etcd_removal {
	ETCD_REMOVAL_SAFE,
	ETCD_REMOVAL_LAST_VOTER,    /* the cluster would have no voter left */
	ETCD_REMOVAL_BREAKS_QUORUM, /* fewer healthy voters than a quorum would remain */
};

/*
 * May a member be removed? voters/healthy_voters count the voting members before the removal;
 * the target's own role and health say what it takes away. Learners never count.
 */
enum etcd_removal etcd_removal_check(size_t voters, size_t healthy_voters, bool target_is_voter,
				     bool target_healthy);

/* ---- leadership and catch-up ------------------------------------------------------------- */

/* What a caller found out about one member, for the decisions below. */
struct etcd_member_state {
	uint64_t id;
	bool voter;	     /* not a learner: only a voter can lead */
	bool healthy;	     /* its endpoint answered /health true and Status without errors */
	uint64_t raft_index; /* Status.raftIndex: its committed index */
};

/*
 * The member the leadership should go to when `leaving` gives it up: a healthy voter other than
 * `leaving` with the highest raft index, the most caught up (etcd's leader waits for the
 * transferee to catch up before it steps down, so this one takes least time); ties go to the
 * first in the array. Returns its index in states, or -ENOENT when no member qualifies.
 */
int etcd_transferee(const struct etcd_member_state *states, size_t n, uint64_t leaving);

/*
 * How many raft entries a member is behind: leader_index - member_index, 0 when the member is
 * not behind (its index may be read after the leader's and be ahead of that older reading).
 */
uint64_t etcd_raft_lag(uint64_t leader_index, uint64_t member_index);

/*
 * The TLS files of a module's options (named ca_cert, client_cert, client_key in messages):
 * each one given is readable, and the certificate and its key are given together.
 */
int etcd_tls_check(const struct http_tls *tls, struct error *err);

/* ---- versions and upgrades ------------------------------------------------------------- */

/* A release version: 3.5.16 (the "v" of a tag and a "-rc.1" or "+meta" suffix are ignored). */
struct etcd_semver {
	unsigned major, minor, patch;
};

/* "v3.5.16", "3.5.16", "3.5" (patch 0): 0, or -EINVAL when text is not a version. */
int etcd_semver_parse(const char *text, struct etcd_semver *out);
/* <0, 0, >0 as a is older than, the same as, newer than b. */
int etcd_semver_cmp(const struct etcd_semver *a, const struct etcd_semver *b);

/*
 * Whether a cluster whose members run `members` (one entry per member) may be moved to `target`
 * by installing it member by member. etcd supports (Documentation/upgrades): any patch release
 * of the same minor, in either direction (same data format); the next minor version (3.4 -> 3.5),
 * once every member runs the same version; never a skipped minor (3.4 -> 3.6) nor an older minor
 * (3.5 -> 3.4: the cluster version only goes up, and a 3.5 data dir is not for 3.4).
 * Members on two versions, one of them the target, are an upgrade that stopped half-way: it may
 * go on (RESUME) when the other version may move to the target.
 */
enum etcd_upgrade {
	ETCD_UPGRADE_NONE,	  /* every member runs target */
	ETCD_UPGRADE_PATCH,	  /* another patch release of the same minor */
	ETCD_UPGRADE_MINOR,	  /* the next minor version */
	ETCD_UPGRADE_RESUME,	  /* part of the members run target already: finish */
	ETCD_UPGRADE_SKIPS_MINOR, /* refused: more than one minor (or another major) up */
	ETCD_UPGRADE_DOWNGRADE,	  /* refused: an older minor or major */
	ETCD_UPGRADE_MIXED,	  /* refused: members on versions that are not {X, target} */
};

enum etcd_upgrade etcd_upgrade_check(const struct etcd_semver *members, size_t n,
				     const struct etcd_semver *target);
/* true for the refusals. */
bool etcd_upgrade_refused(enum etcd_upgrade decision);

/* ---- calls -------------------------------------------------------------------------------- */

/*
 * POST /v3/<path> with body (NULL: {}) to one endpoint; *out gets the parsed answer (caller
 * decrefs). Returns 0, ETCD_EREMOTE when etcd answered with an error (its message in err),
 * or another negative errno when the endpoint could not be reached.
 */
int etcd_post(const struct etcd_client *c, const char *endpoint, const char *path,
	      const json_t *body, json_t **out, struct error *err);

/*
 * etcd_post to the endpoints in turn until one answers (see the header comment). When none does,
 * the error lists every endpoint's failure and the code is the last one's.
 */
int etcd_call(struct etcd_client *c, const char *path, const json_t *body, json_t **out,
	      struct error *err);

int etcd_member_list(struct etcd_client *c, struct etcd_member_list *out, struct error *err);
/* MemberAdd; *id gets the new member's ID and *after the member list etcd returns with it. */
int etcd_member_add(struct etcd_client *c, const char *const *peer_urls, size_t n_peer_urls,
		    bool learner, uint64_t *id, struct etcd_member_list *after, struct error *err);
int etcd_member_remove(struct etcd_client *c, uint64_t id, struct error *err);
int etcd_member_promote(struct etcd_client *c, uint64_t id, struct error *err);

/*
 * Maintenance.MoveLeader (POST /v3/maintenance/transfer-leadership {"targetID": decimal}) to the
 * leader behind leader_endpoint: only the leader accepts it ("etcdserver: not leader" from any
 * other member). etcd answers once the transferee leads, or with an error when the transfer
 * timed out (etcdserver ErrTimeoutLeaderTransfer).
 */
int etcd_move_leader(const struct etcd_client *c, const char *leader_endpoint, uint64_t target,
		     struct error *err);

/* Maintenance.Status of the member behind one endpoint. */
int etcd_status(const struct etcd_client *c, const char *endpoint, struct etcd_status *out,
		struct error *err);

/*
 * GET /health of one endpoint: 0 when it answers {"health":"true"}. etcd 3.4 answers true only
 * when the member has a leader, no alarm, and a read through raft succeeds (a quorum answers).
 */
int etcd_health(const struct etcd_client *c, const char *endpoint, struct error *err);

/*
 * GET /version of one endpoint: {"etcdserver":"3.5.16","etcdcluster":"3.5.0"} (3.4 and 3.5 alike;
 * etcdcluster is "not_decided" until the members agreed). *server and *cluster get new strings
 * (caller frees).
 */
int etcd_version_get(const struct etcd_client *c, const char *endpoint, char **server,
		     char **cluster, struct error *err);

#endif
