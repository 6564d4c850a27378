#include "etcd_probe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "name (id)" of a member, for messages; buf holds at least 96 bytes. */
const char *etcd_member_label(const struct etcd_member *member, char *buf, size_t size)
{
	char hex[ETCD_ID_HEX_SIZE];

	snprintf(buf, size, "'%.64s' (%s)", member->name[0] ? member->name : "(not started)",
		 etcd_id_hex(member->id, hex));
	return buf;
}
json_t *etcd_strings_json(char *const *list, size_t n)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < n; i++)
		json_array_append_new(array, json_string(list[i]));
	return array;
}

json_t *etcd_id_json(uint64_t id)
{
	char hex[ETCD_ID_HEX_SIZE];

	return id ? json_string(etcd_id_hex(id, hex)) : json_null();
}

json_t *etcd_member_json(const struct etcd_member *member)
{
	return json_pack("{s:o,s:s,s:o,s:o,s:b}", "id", etcd_id_json(member->id), "name",
			 member->name, "peer_urls",
			 etcd_strings_json(member->peer_urls, member->n_peer_urls), "client_urls",
			 etcd_strings_json(member->client_urls, member->n_client_urls),
			 "is_learner", member->is_learner);
}
json_t *etcd_members_json(const struct etcd_member_list *list, uint64_t skip)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < list->n_members; i++)
		if (list->members[i].id != skip)
			json_array_append_new(array, etcd_member_json(&list->members[i]));
	return array;
}

/* "'name' (id)" of the member with that id, or its hex id alone. */
const char *etcd_label_of(const struct etcd_member_list *list, uint64_t id, char *buf, size_t size)
{
	const struct etcd_member *member = etcd_member_by_id(list, id);

	if (member)
		return etcd_member_label(member, buf, size);
	if (!id)
		snprintf(buf, size, "none");
	else
		etcd_id_hex(id, buf);
	return buf;
}
void etcd_probe_endpoint(const struct etcd_client *c, const char *endpoint, struct etcd_probe *p)
{
	memset(p, 0, sizeof(*p));
	p->endpoint = endpoint;
	if (etcd_status(c, endpoint, &p->status, &p->err) < 0)
		return;
	p->answered = true;
	if (p->status.errors) {
		error_set(&p->err, -EIO, "%s: %s", endpoint, p->status.errors);
		return;
	}
	p->healthy = etcd_health(c, endpoint, &p->err) == 0;
}

void etcd_probes_free(struct etcd_probe *probes, size_t n)
{
	for (size_t i = 0; probes && i < n; i++)
		etcd_status_free(&probes[i].status);
	free(probes);
}
json_t *etcd_probe_json(const char *hint, const struct etcd_probe *p)
{
	char *error = NULL;
	json_t *entry;

	if (!p->healthy && asprintf(&error, "%s%s", p->err.msg, hint) < 0)
		error = NULL;
	entry = json_pack("{s:s,s:b,s:s?}", "endpoint", p->endpoint, "healthy", p->healthy, "error",
			  error);
	free(error);
	if (!entry || !p->answered)
		return entry;
	json_object_set_new(entry, "member_id", etcd_id_json(p->status.member_id));
	json_object_set_new(entry, "is_learner", json_boolean(p->status.is_learner));
	json_object_set_new(entry, "leader", etcd_id_json(p->status.leader));
	json_object_set_new(entry, "raft_index", json_integer((json_int_t)p->status.raft_index));
	json_object_set_new(entry, "raft_term", json_integer((json_int_t)p->status.raft_term));
	json_object_set_new(entry, "db_size", json_integer((json_int_t)p->status.db_size));
	json_object_set_new(entry, "db_size_in_use",
			    json_integer((json_int_t)p->status.db_size_in_use));
	json_object_set_new(entry, "version", json_string(p->status.version));
	return entry;
}
/* Probes every endpoint once; returns how many are healthy. */
size_t etcd_probe_all(const struct etcd_client *c, struct etcd_probe *probes)
{
	size_t healthy = 0;

	for (size_t i = 0; i < c->n_endpoints; i++) {
		etcd_status_free(&probes[i].status);
		etcd_probe_endpoint(c, c->endpoints[i], &probes[i]);
		healthy += probes[i].healthy;
	}
	return healthy;
}
const struct etcd_probe *etcd_probe_of(const struct etcd_client *c, const struct etcd_probe *probes,
				       const char *endpoint)
{
	for (size_t i = 0; i < c->n_endpoints; i++)
		if (etcd_url_same(endpoint, probes[i].endpoint))
			return &probes[i];
	return NULL;
}

/* Healthy through an endpoint already probed, else through one of its own client URLs. */
bool etcd_member_healthy(const struct etcd_client *c, const struct etcd_member *member,
			 const struct etcd_probe *probes, struct error *why)
{
	const struct etcd_probe *known;
	struct etcd_probe p;
	bool healthy = false;

	for (size_t i = 0; i < c->n_endpoints; i++)
		if (probes[i].healthy && probes[i].status.member_id == member->id)
			return true;
	error_set(why, -EIO, "no client URL (not started)");
	for (size_t u = 0; u < member->n_client_urls && !healthy; u++) {
		known = etcd_probe_of(c, probes, member->client_urls[u]);
		if (known && !known->healthy) {
			*why = known->err; /* already failed: do not wait for it twice */
			continue;
		}
		etcd_probe_endpoint(c, member->client_urls[u], &p);
		healthy = p.healthy && p.status.member_id == member->id;
		if (p.healthy && !healthy)
			error_set(why, -EIO, "%s answers as another member", p.endpoint);
		else if (!healthy)
			*why = p.err;
		etcd_status_free(&p.status);
	}
	return healthy;
}
bool etcd_probe_member(const struct etcd_client *c, const struct etcd_member *member,
		       struct etcd_probe *p)
{
	memset(p, 0, sizeof(*p));
	error_set(&p->err, -EIO, "no client URL (not started)");
	for (size_t u = 0; u < member->n_client_urls; u++) {
		etcd_status_free(&p->status);
		etcd_probe_endpoint(c, member->client_urls[u], p);
		if (p->answered && p->status.member_id != member->id) {
			error_set(&p->err, -EIO, "%s answers as another member", p->endpoint);
			p->answered = p->healthy = false;
		}
		if (p->answered)
			break;
	}
	return p->healthy;
}

/* probes[i] for list->members[i]; *leader = the leader a healthy member knows (0: none). */
void etcd_probe_members(const struct etcd_client *c, const struct etcd_member_list *list,
			struct etcd_probe *probes, struct etcd_member_state *states,
			uint64_t *leader)
{
	*leader = 0;
	for (size_t i = 0; i < list->n_members; i++) {
		const struct etcd_member *member = &list->members[i];

		etcd_status_free(&probes[i].status);
		etcd_probe_member(c, member, &probes[i]);
		states[i] = (struct etcd_member_state){.id = member->id,
						       .voter = !member->is_learner,
						       .healthy = probes[i].healthy,
						       .raft_index = probes[i].status.raft_index};
		if (!*leader && probes[i].healthy)
			*leader = probes[i].status.leader;
	}
}

/*
 * only_on_leader: is the first endpoint's member the leader? A member that cannot be asked is
 * not: the leader's own job takes the backup.
 */
bool etcd_first_is_leader(const struct etcd_client *c, char *why, size_t size)
{
	struct etcd_status st = {0};
	struct error err;
	bool leader = false;

	if (c->n_endpoints == 0 || !c->endpoints)
		snprintf(why, size, "no endpoints given");
	else if (etcd_status(c, c->endpoints[0], &st, &err) < 0)
		snprintf(why, size, "%s cannot be asked (%.300s)", c->endpoints[0], err.msg);
	else if (!(leader = st.leader != 0 && st.leader == st.member_id))
		snprintf(why, size, "%s is not the leader", c->endpoints[0]);
	etcd_status_free(&st);
	return leader;
}
