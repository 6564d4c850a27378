/*
 * etcd_probe: how each endpoint and member of an etcd cluster is doing, as one look: status
 * (Maintenance.Status) then /health per endpoint, which member answers behind an endpoint, and
 * the JSON etcd_member reports them in (ids as etcdctl's hex strings). Mechanics only: what to
 * do about an unhealthy member is the module's decision.
 *
 * Ownership: a probe's status is freed with etcd_probes_free (an array) or etcd_status_free (one);
 * probe->endpoint is borrowed. The json_t values are new references (the caller steals them).
 */
#ifndef ETCD_ANSIBLE_ETCD_PROBE_H
#define ETCD_ANSIBLE_ETCD_PROBE_H

#include "error.h"
#include "etcd.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The health of one endpoint. */
struct etcd_probe {
	const char *endpoint;
	bool answered; /* Maintenance.Status answered: status is filled */
	bool healthy;  /* and /health said true */
	struct etcd_status status;
	struct error err; /* why not healthy */
};

/* Probes one endpoint (p is overwritten: free its status first). */
void etcd_probe_endpoint(const struct etcd_client *c, const char *endpoint, struct etcd_probe *p);
void etcd_probes_free(struct etcd_probe *probes, size_t n);
/* Probes every endpoint of c into probes[0..n_endpoints); returns how many are healthy. */
size_t etcd_probe_all(const struct etcd_client *c, struct etcd_probe *probes);
/* The probe (of etcd_probe_all's) for that endpoint, or NULL. */
const struct etcd_probe *etcd_probe_of(const struct etcd_client *c, const struct etcd_probe *probes,
				       const char *endpoint);
/* Healthy through an endpoint already probed, else through one of its own client URLs; *why
 * says why not. */
bool etcd_member_healthy(const struct etcd_client *c, const struct etcd_member *member,
			 const struct etcd_probe *probes, struct error *why);
/* Probes member through its client URLs until one answers as that member. */
bool etcd_probe_member(const struct etcd_client *c, const struct etcd_member *member,
		       struct etcd_probe *p);
/* probes[i] and states[i] for list->members[i]; *leader = the leader a healthy member knows
 * (0: none). */
void etcd_probe_members(const struct etcd_client *c, const struct etcd_member_list *list,
			struct etcd_probe *probes, struct etcd_member_state *states,
			uint64_t *leader);

/* "'name' (id)" of a member, for messages; buf holds at least 96 bytes. */
const char *etcd_member_label(const struct etcd_member *member, char *buf, size_t size);
/* The label of the member with that id in list, its hex id alone, or "none" for 0. */
const char *etcd_label_of(const struct etcd_member_list *list, uint64_t id, char *buf, size_t size);

/* JSON: a list of strings; an id as hex (null for 0); a member as etcd_member reports it; a
 * probe ({endpoint, healthy, error (with hint appended), member_id, leader, raft_index, ...}). */
json_t *etcd_strings_json(char *const *list, size_t n);
json_t *etcd_id_json(uint64_t id);
json_t *etcd_member_json(const struct etcd_member *member);
/* The members of list but skip (0: none), as etcd_member_json entries. */
json_t *etcd_members_json(const struct etcd_member_list *list, uint64_t skip);
json_t *etcd_probe_json(const char *hint, const struct etcd_probe *p);

/*
 * only_on_leader (etcd_snapshot): is the first endpoint's member the leader? A member that cannot
 * be asked is not; why (size bytes) says why not.
 */
bool etcd_first_is_leader(const struct etcd_client *c, char *why, size_t size);

#endif
