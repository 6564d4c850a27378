#include "etcd.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>

#define ETCD_DEFAULT_TIMEOUT_MS 5000L
/* The answers used here are small: a member list of a thousand members is far below this. */
#define ETCD_ANSWER_MAX (4u * 1024u * 1024u)

/* ---- values ------------------------------------------------------------------------------- */

/* strtoull accepts blanks, signs and 0x; an ID is digits only. */
static bool all_chars(const char *s, int (*is_class)(int))
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!is_class((unsigned char)*s))
			return false;
	return true;
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!all_chars(s, base == 16 ? isxdigit : isdigit))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno == ERANGE || *end)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int etcd_uint64_from_json(const json_t *value, uint64_t *out)
{
	*out = 0;
	if (!value || json_is_null(value))
		return 0; /* omitted: zero */
	if (json_is_string(value))
		return parse_u64(json_string_value(value), 10, out);
	if (json_is_integer(value) && json_integer_value(value) >= 0) {
		*out = (uint64_t)json_integer_value(value);
		return 0;
	}
	return -EINVAL;
}

char *etcd_id_hex(uint64_t id, char *buf)
{
	snprintf(buf, ETCD_ID_HEX_SIZE, "%" PRIx64, id);
	return buf;
}

int etcd_id_parse(const char *text, uint64_t ids[2], struct error *err)
{
	int n = 0;

	if (text && strncasecmp(text, "0x", 2) == 0)
		n = parse_u64(text + 2, 16, &ids[0]) == 0;
	else if (text) {
		n = parse_u64(text, 16, &ids[0]) == 0;
		if (parse_u64(text, 10, &ids[n]) == 0 && (n == 0 || ids[1] != ids[0]))
			n++;
	}
	if (n == 0)
		return error_set(
		    err, -EINVAL,
		    "'%.40s' is not a member ID (hex as etcdctl prints it, or decimal)",
		    text ? text : "");
	return n;
}

/* ---- parsing answers ---------------------------------------------------------------------- */

static void strings_free(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* A JSON list of strings into a new array; omitted means empty. *n counts what was copied. */
static int strings_from_json(const json_t *array, char ***out, size_t *n)
{
	const json_t *v;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!array)
		return 0;
	if (!json_is_array(array))
		return -EINVAL;
	*out = calloc(json_array_size(array) + 1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	json_array_foreach(array, i, v)
	{
		if (!json_is_string(v))
			return -EINVAL;
		(*out)[i] = strdup(json_string_value(v));
		if (!(*out)[i])
			return -ENOMEM;
		*n = i + 1;
	}
	return 0;
}

static void member_free(struct etcd_member *m)
{
	free(m->name);
	strings_free(m->peer_urls, m->n_peer_urls);
	strings_free(m->client_urls, m->n_client_urls);
}

/* One entry of "members" (etcdserverpb.Member). */
static int member_parse(const json_t *doc, struct etcd_member *m, struct error *err)
{
	const json_t *learner = json_object_get(doc, "isLearner");
	const char *name = json_string_value(json_object_get(doc, "name"));

	if (!json_is_object(doc))
		return error_set(err, -EPROTO, "a member is not an object");
	if (etcd_uint64_from_json(json_object_get(doc, "ID"), &m->id) < 0 || m->id == 0)
		return error_set(err, -EPROTO, "a member has no valid ID");
	m->name = strdup(name ? name : "");
	if (!m->name)
		return error_set(err, -ENOMEM, "out of memory");
	if (strings_from_json(json_object_get(doc, "peerURLs"), &m->peer_urls, &m->n_peer_urls) <
		0 ||
	    strings_from_json(json_object_get(doc, "clientURLs"), &m->client_urls,
			      &m->n_client_urls) < 0)
		return error_set(err, -EPROTO, "member %" PRIx64 ": bad peerURLs or clientURLs",
				 m->id);
	if (learner && !json_is_boolean(learner))
		return error_set(err, -EPROTO, "member %" PRIx64 ": isLearner is not a boolean",
				 m->id);
	m->is_learner = json_is_true(learner); /* omitted when false */
	return 0;
}

int etcd_member_list_parse(const json_t *doc, struct etcd_member_list *out, struct error *err)
{
	const json_t *header = json_object_get(doc, "header");
	const json_t *members = json_object_get(doc, "members"), *m;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc) || (members && !json_is_array(members)))
		return error_set(err, -EPROTO, "the member list is not {\"members\": [...]}");
	if (etcd_uint64_from_json(json_object_get(header, "cluster_id"), &out->cluster_id) < 0 ||
	    etcd_uint64_from_json(json_object_get(header, "member_id"), &out->answered_by) < 0)
		return error_set(err, -EPROTO, "the member list has a bad header");
	out->members = calloc(json_array_size(members) + 1, sizeof(*out->members));
	if (!out->members)
		return error_set(err, -ENOMEM, "out of memory");
	json_array_foreach(members, i, m)
	{
		out->n_members = i + 1;
		rc = member_parse(m, &out->members[i], err);
		if (rc < 0)
			break;
	}
	if (rc < 0)
		etcd_member_list_free(out);
	return rc;
}

void etcd_member_list_free(struct etcd_member_list *list)
{
	for (size_t i = 0; i < list->n_members; i++)
		member_free(&list->members[i]);
	free(list->members);
	memset(list, 0, sizeof(*list));
}

/* The "errors" list of a status (alarms such as "NOSPACE") joined, or NULL when none. */
static char *status_errors(const json_t *list)
{
	char *text = NULL;
	size_t len = 0;
	const json_t *e;
	size_t i;
	FILE *f;

	if (json_array_size(list) == 0)
		return NULL;
	f = open_memstream(&text, &len);
	if (!f)
		return NULL;
	json_array_foreach(list, i, e)
	    fprintf(f, "%s%s", i ? "; " : "", json_string_value(e) ? json_string_value(e) : "?");
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int etcd_status_parse(const json_t *doc, struct etcd_status *out, struct error *err)
{
	const json_t *header = json_object_get(doc, "header");
	const char *version = json_string_value(json_object_get(doc, "version"));
	struct {
		const json_t *from;
		const char *key;
		uint64_t *to;
	} fields[] = {
	    {header, "cluster_id", &out->cluster_id},
	    {header, "member_id", &out->member_id},
	    {doc, "leader", &out->leader},
	    {doc, "raftIndex", &out->raft_index},
	    {doc, "raftTerm", &out->raft_term},
	    {doc, "raftAppliedIndex", &out->raft_applied_index},
	    {doc, "dbSize", &out->db_size},
	    {doc, "dbSizeInUse", &out->db_size_in_use},
	};

	memset(out, 0, sizeof(*out));
	if (!json_is_object(doc))
		return error_set(err, -EPROTO, "the status is not an object");
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (etcd_uint64_from_json(json_object_get(fields[i].from, fields[i].key),
					  fields[i].to) < 0)
			return error_set(err, -EPROTO, "the status has a bad %s", fields[i].key);
	out->is_learner = json_is_true(json_object_get(doc, "isLearner"));
	out->version = strdup(version ? version : "");
	out->errors = status_errors(json_object_get(doc, "errors"));
	if (!out->version)
		return error_set(err, -ENOMEM, "out of memory");
	return 0;
}

void etcd_status_free(struct etcd_status *status)
{
	free(status->version);
	free(status->errors);
	memset(status, 0, sizeof(*status));
}

void etcd_error_text(const char *body, size_t len, char *out, size_t size)
{
	json_t *doc = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *msg = json_string_value(json_object_get(doc, "message"));

	if (!msg || !*msg)
		msg = json_string_value(json_object_get(doc, "error"));
	if (msg)
		snprintf(out, size, "%s", msg);
	else
		snprintf(out, size, "%.*s", (int)(len < 300 ? len : 300), body ? body : "");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	json_decref(doc);
}

/* ---- membership arithmetic ---------------------------------------------------------------- */

const struct etcd_member *etcd_member_by_id(const struct etcd_member_list *list, uint64_t id)
{
	for (size_t i = 0; i < list->n_members; i++)
		if (list->members[i].id == id)
			return &list->members[i];
	return NULL;
}

const struct etcd_member *etcd_member_by_name(const struct etcd_member_list *list, const char *name)
{
	if (!name || !*name)
		return NULL; /* "" is every member that has not started */
	for (size_t i = 0; i < list->n_members; i++)
		if (strcmp(list->members[i].name, name) == 0)
			return &list->members[i];
	return NULL;
}

static size_t url_length(const char *url)
{
	size_t len = strlen(url);

	while (len && url[len - 1] == '/')
		len--;
	return len;
}

bool etcd_url_same(const char *a, const char *b)
{
	size_t len = url_length(a);

	return len == url_length(b) && strncmp(a, b, len) == 0;
}

static bool url_in(const char *url, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (etcd_url_same(url, list[i]))
			return true;
	return false;
}

const struct etcd_member *etcd_member_by_peer_urls(const struct etcd_member_list *list,
						   const char *const *urls, size_t n_urls)
{
	for (size_t i = 0; i < list->n_members; i++)
		for (size_t u = 0; u < list->members[i].n_peer_urls; u++)
			if (url_in(list->members[i].peer_urls[u], urls, n_urls))
				return &list->members[i];
	return NULL;
}

bool etcd_urls_equal(char *const *a, size_t n_a, const char *const *b, size_t n_b)
{
	for (size_t i = 0; i < n_a; i++)
		if (!url_in(a[i], b, n_b))
			return false;
	for (size_t i = 0; i < n_b; i++)
		if (!url_in(b[i], (const char *const *)a, n_a))
			return false;
	return true;
}

size_t etcd_voter_count(const struct etcd_member_list *list)
{
	size_t n = 0;

	for (size_t i = 0; i < list->n_members; i++)
		n += !list->members[i].is_learner;
	return n;
}

static void initial_cluster_add(FILE *f, bool *first, const char *name, const char *url)
{
	fprintf(f, "%s%s=%s", *first ? "" : ",", name, url);
	*first = false;
}

char *etcd_initial_cluster(const struct etcd_member_list *list, uint64_t id, const char *name,
			   const char *extra_name, const char *const *extra_urls, size_t n_extra)
{
	char *text = NULL;
	size_t len = 0;
	bool first = true;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	for (size_t i = 0; i < list->n_members; i++) {
		const struct etcd_member *m = &list->members[i];

		for (size_t u = 0; u < m->n_peer_urls; u++)
			initial_cluster_add(f, &first, m->id == id ? name : m->name,
					    m->peer_urls[u]);
	}
	for (size_t u = 0; extra_name && u < n_extra; u++)
		initial_cluster_add(f, &first, extra_name, extra_urls[u]);
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

size_t etcd_quorum(size_t voters)
{
	return voters / 2 + 1;
}

enum etcd_removal etcd_removal_check(size_t voters, size_t healthy_voters, bool target_is_voter,
				     bool target_healthy)
{
	size_t healthy_after;

	if (!target_is_voter)
		return ETCD_REMOVAL_SAFE; /* learners do not vote: never part of a quorum */
	if (voters <= 1)
		return ETCD_REMOVAL_LAST_VOTER;
	healthy_after = healthy_voters - (target_healthy && healthy_voters ? 1 : 0);
	if (healthy_after < etcd_quorum(voters - 1))
		return ETCD_REMOVAL_BREAKS_QUORUM;
	return ETCD_REMOVAL_SAFE;
}

/* ---- leadership and catch-up ------------------------------------------------------------- */

int etcd_transferee(const struct etcd_member_state *states, size_t n, uint64_t leaving)
{
	int pick = -ENOENT;

	for (size_t i = 0; i < n && i <= (size_t)INT32_MAX; i++) {
		const struct etcd_member_state *s = &states[i];

		if (s->id == leaving || !s->voter || !s->healthy)
			continue;
		if (pick < 0 || s->raft_index > states[pick].raft_index)
			pick = (int)i;
	}
	return pick;
}

uint64_t etcd_raft_lag(uint64_t leader_index, uint64_t member_index)
{
	return leader_index > member_index ? leader_index - member_index : 0;
}

/* ---- versions and upgrades --------------------------------------------------------------- */

static int parse_version_part(const char **p, unsigned *out)
{
	char *end;
	unsigned long v;

	if (**p < '0' || **p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(*p, &end, 10);
	if (errno || v > 100000)
		return -EINVAL;
	*out = (unsigned)v;
	*p = end;
	return 0;
}

int etcd_semver_parse(const char *text, struct etcd_semver *out)
{
	const char *p = text;

	*out = (struct etcd_semver){0};
	if (!p)
		return -EINVAL;
	if (*p == 'v')
		p++;
	if (parse_version_part(&p, &out->major) < 0 || *p++ != '.' ||
	    parse_version_part(&p, &out->minor) < 0)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (parse_version_part(&p, &out->patch) < 0)
			return -EINVAL;
	}
	return *p == '\0' || *p == '-' || *p == '+' ? 0 : -EINVAL;
}

static int cmp_unsigned(unsigned a, unsigned b)
{
	return (a > b) - (a < b);
}

int etcd_semver_cmp(const struct etcd_semver *a, const struct etcd_semver *b)
{
	if (a->major != b->major)
		return cmp_unsigned(a->major, b->major);
	if (a->minor != b->minor)
		return cmp_unsigned(a->minor, b->minor);
	return cmp_unsigned(a->patch, b->patch);
}

/* From one version every member runs to target. */
static enum etcd_upgrade upgrade_step(const struct etcd_semver *from, const struct etcd_semver *to)
{
	if (etcd_semver_cmp(from, to) == 0)
		return ETCD_UPGRADE_NONE;
	if (from->major == to->major && from->minor == to->minor)
		return ETCD_UPGRADE_PATCH;
	if (etcd_semver_cmp(from, to) > 0)
		return ETCD_UPGRADE_DOWNGRADE;
	if (from->major == to->major && from->minor + 1 == to->minor)
		return ETCD_UPGRADE_MINOR;
	return ETCD_UPGRADE_SKIPS_MINOR;
}

enum etcd_upgrade etcd_upgrade_check(const struct etcd_semver *members, size_t n,
				     const struct etcd_semver *target)
{
	const struct etcd_semver *other = NULL;
	bool on_target = false;
	enum etcd_upgrade step;

	for (size_t i = 0; i < n; i++) {
		if (etcd_semver_cmp(&members[i], target) == 0)
			on_target = true;
		else if (!other)
			other = &members[i];
		else if (etcd_semver_cmp(&members[i], other) != 0)
			return ETCD_UPGRADE_MIXED;
	}
	if (!other)
		return ETCD_UPGRADE_NONE;
	step = upgrade_step(other, target);
	if (!on_target || etcd_upgrade_refused(step))
		return step;
	return ETCD_UPGRADE_RESUME;
}

bool etcd_upgrade_refused(enum etcd_upgrade decision)
{
	return decision == ETCD_UPGRADE_SKIPS_MINOR || decision == ETCD_UPGRADE_DOWNGRADE ||
	       decision == ETCD_UPGRADE_MIXED;
}

/* ---- calls -------------------------------------------------------------------------------- */

static long timeout_of(const struct etcd_client *c)
{
	return c->timeout_ms > 0 ? c->timeout_ms : ETCD_DEFAULT_TIMEOUT_MS;
}

/* endpoint (trailing "/" dropped) + path, as a new string. */
static char *endpoint_url(const char *endpoint, const char *path)
{
	char *url;

	if (asprintf(&url, "%.*s%s", (int)url_length(endpoint), endpoint, path) < 0)
		return NULL;
	return url;
}

/* A non-200 answer: etcd's own error (ETCD_EREMOTE) if the body is the gateway's error shape. */
/*
 * etcd's errors, by the text etcd itself defines for them (etcdserver/api/v3rpc/rpctypes): the
 * gateway passes only that text and a gRPC code, and the code alone does not tell "unhealthy
 * cluster" from "no leader" (both Unavailable). Longer texts first: one is a prefix of another.
 */
static const struct {
	const char *text;
	enum error_reason reason;
} ETCD_ERRORS[] = {
    {"can only promote a learner member which is in sync with leader", ERROR_LEARNER_NOT_READY},
    {"can only promote a learner member", ERROR_NOT_LEARNER},
    {"too many learner members in cluster", ERROR_TOO_MANY_LEARNERS},
    {"rpc not supported for learner", ERROR_LEARNER_RPC},
    {"unhealthy cluster", ERROR_UNHEALTHY},
    {"etcdserver: no leader", ERROR_NO_LEADER},
    {"member not found", ERROR_NOT_FOUND},
    {"Peer URLs already exists", ERROR_EXISTS},
    {"member ID already exist", ERROR_EXISTS},
    {"permission denied", ERROR_AUTH},
    {"authentication failed", ERROR_AUTH},
};

enum error_reason etcd_error_reason(const char *message)
{
	if (!message)
		return ERROR_REMOTE;
	/* etcd 3.4's gateway, when it cannot reach its own gRPC server (docs/protocols.md, etcd
	 * JSON gateway): the whole message */
	if (strncmp(message, "connection closed", 17) == 0 ||
	    strstr(message, ": connection closed"))
		return ERROR_GATEWAY_CLOSED;
	for (size_t i = 0; i < sizeof(ETCD_ERRORS) / sizeof(ETCD_ERRORS[0]); i++)
		if (strstr(message, ETCD_ERRORS[i].text))
			return ETCD_ERRORS[i].reason;
	return ERROR_REMOTE;
}

static int answer_error(const char *endpoint, const char *path, const struct http_response *resp,
			struct error *err)
{
	json_t *doc = resp->body ? json_loadb(resp->body, resp->body_len, 0, NULL) : NULL;
	bool from_etcd = json_object_get(doc, "message") || json_object_get(doc, "error");
	char detail[512];

	json_decref(doc);
	etcd_error_text(resp->body, resp->body_len, detail, sizeof(detail));
	if (from_etcd)
		return error_set_reason(err, etcd_error_reason(detail), ETCD_EREMOTE, "%s: %s",
					endpoint, detail);
	return error_set_reason(err, ERROR_PROTOCOL, -EPROTO,
				"%s%s: HTTP %ld: %s (is this an etcd 3.4+ client URL?)", endpoint,
				path, resp->status, detail);
}

int etcd_post(const struct etcd_client *c, const char *endpoint, const char *path,
	      const json_t *body, json_t **out, struct error *err)
{
	static const char *const headers[] = {"Content-Type: application/json",
					      "Accept: application/json", NULL};
	char *route = NULL, *url = NULL, *text = NULL;
	struct http_request req = {.method = "POST",
				   .headers = headers,
				   .tls = &c->tls,
				   .timeout_ms = timeout_of(c),
				   .connect_timeout_ms = timeout_of(c),
				   .max_response = ETCD_ANSWER_MAX};
	struct http_response resp = {0};
	json_error_t jerr;
	int rc = -ENOMEM;

	*out = NULL;
	if (asprintf(&route, "/v3/%s", path) < 0) {
		route = NULL;
		goto out;
	}
	url = endpoint_url(endpoint, route);
	text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
	if (!url || !text) {
		error_set(err, rc, "out of memory");
		goto out;
	}
	req.url = url;
	req.body = text;
	req.body_len = strlen(text);
	rc = http_request(&req, &resp, err);
	if (rc < 0)
		goto out;
	if (resp.status != 200) {
		rc = answer_error(endpoint, route, &resp, err);
		goto out;
	}
	*out = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, &jerr);
	if (!*out)
		rc = error_set(err, -EPROTO, "%s%s: invalid JSON in the answer: %s", endpoint,
			       route, jerr.text);
out:
	http_response_free(&resp);
	free(route);
	free(url);
	free(text);
	return rc;
}

/*
 * An answer from etcd that another member may not give: a learner serves no client RPC but
 * Status ("rpc not supported for learner", etcdserver ErrNotSupportedForLearner), a member cut
 * off from the quorum knows no leader, and a member's gateway that cannot reach its own gRPC
 * server says "connection closed" before the request got anywhere (seen on etcd 3.4 when the
 * server certificate lacks clientAuth).
 */
static bool another_member_may_answer(const struct error *err)
{
	return err->reason == ERROR_LEARNER_RPC || err->reason == ERROR_NO_LEADER ||
	       err->reason == ERROR_GATEWAY_CLOSED;
}

int etcd_call(struct etcd_client *c, const char *path, const json_t *body, json_t **out,
	      struct error *err)
{
	char summary[ERROR_MSG_MAX] = "";
	size_t used = 0;
	struct error one = {.reason = ERROR_UNKNOWN};
	int rc = -EINVAL;

	*out = NULL;
	for (size_t k = 0; k < c->n_endpoints; k++) {
		size_t i = (c->current + k) % c->n_endpoints;

		rc = etcd_post(c, c->endpoints[i], path, body, out, &one);
		if (rc == 0 || (rc == ETCD_EREMOTE && !another_member_may_answer(&one))) {
			c->current = i;
			if (rc < 0 && err)
				*err = one;
			return rc;
		}
		if (used < sizeof(summary))
			used += (size_t)snprintf(summary + used, sizeof(summary) - used, "%s%s",
						 used ? "; " : "", one.msg);
	}
	if (c->n_endpoints == 0)
		return error_set_reason(err, ERROR_INVALID, -EINVAL, "no endpoints given");
	/* the last endpoint's reason stands for all: they usually fail alike */
	return error_set_reason(err, one.reason, rc, "no endpoint answered: %s", summary);
}

int etcd_member_list(struct etcd_client *c, struct etcd_member_list *out, struct error *err)
{
	json_t *answer = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = etcd_call(c, "cluster/member/list", NULL, &answer, err);
	if (rc == 0)
		rc = etcd_member_list_parse(answer, out, err);
	json_decref(answer);
	return rc;
}

static json_t *string_array(const char *const *list, size_t n)
{
	json_t *array = json_array();

	for (size_t i = 0; array && i < n; i++)
		if (json_array_append_new(array, json_string(list[i])) < 0) {
			json_decref(array);
			return NULL;
		}
	return array;
}

int etcd_member_add(struct etcd_client *c, const char *const *peer_urls, size_t n_peer_urls,
		    bool learner, uint64_t *id, struct etcd_member_list *after, struct error *err)
{
	json_t *body = json_pack("{s:o?,s:b}", "peerURLs", string_array(peer_urls, n_peer_urls),
				 "isLearner", learner);
	json_t *answer = NULL;
	int rc = -ENOMEM;

	memset(after, 0, sizeof(*after));
	*id = 0;
	if (!body) {
		error_set(err, rc, "out of memory");
		goto out;
	}
	rc = etcd_call(c, "cluster/member/add", body, &answer, err);
	if (rc < 0)
		goto out;
	if (etcd_uint64_from_json(json_object_get(json_object_get(answer, "member"), "ID"), id) <
		0 ||
	    *id == 0) {
		rc = error_set(err, -EPROTO, "%s: MemberAdd answered without the new member's ID",
			       c->endpoints[c->current]);
		goto out;
	}
	rc = etcd_member_list_parse(answer, after, err);
out:
	json_decref(body);
	json_decref(answer);
	return rc;
}

/* A call whose request is {"ID": id} and whose answer only matters when it is an error. */
static int call_with_id(struct etcd_client *c, const char *path, uint64_t id, struct error *err)
{
	char decimal[24];
	json_t *body, *answer = NULL;
	int rc;

	/* uint64 as a decimal string: the proto3 JSON form, exact for any ID. */
	snprintf(decimal, sizeof(decimal), "%" PRIu64, id);
	body = json_pack("{s:s}", "ID", decimal);
	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = etcd_call(c, path, body, &answer, err);
	json_decref(body);
	json_decref(answer);
	return rc;
}

int etcd_member_remove(struct etcd_client *c, uint64_t id, struct error *err)
{
	return call_with_id(c, "cluster/member/remove", id, err);
}

int etcd_member_promote(struct etcd_client *c, uint64_t id, struct error *err)
{
	return call_with_id(c, "cluster/member/promote", id, err);
}

int etcd_move_leader(const struct etcd_client *c, const char *leader_endpoint, uint64_t target,
		     struct error *err)
{
	char decimal[24];
	json_t *body, *answer = NULL;
	int rc;

	/* uint64 as a decimal string: the proto3 JSON form, exact for any ID. */
	snprintf(decimal, sizeof(decimal), "%" PRIu64, target);
	body = json_pack("{s:s}", "targetID", decimal);
	if (!body)
		return error_set(err, -ENOMEM, "out of memory");
	rc = etcd_post(c, leader_endpoint, "maintenance/transfer-leadership", body, &answer, err);
	json_decref(body);
	json_decref(answer);
	return rc;
}

int etcd_status(const struct etcd_client *c, const char *endpoint, struct etcd_status *out,
		struct error *err)
{
	json_t *answer = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = etcd_post(c, endpoint, "maintenance/status", NULL, &answer, err);
	if (rc == 0 && etcd_status_parse(answer, out, err) < 0) {
		rc = error_wrap(err, -EPROTO, "%s", endpoint);
		etcd_status_free(out);
	}
	json_decref(answer);
	return rc;
}

/*
 * GET endpoint + path (/health, /version: plain HTTP paths, not gRPC gateway calls): *doc the
 * answer's JSON (NULL when the body is not JSON) and *status the HTTP status, whatever it is.
 * retries: how often http.c may retry (on 503).
 */
static int etcd_get_json(const struct etcd_client *c, const char *endpoint, const char *path,
			 int retries, json_t **doc, long *status, struct error *err)
{
	char *url = endpoint_url(endpoint, path);
	struct http_request req = {.url = url,
				   .tls = &c->tls,
				   .timeout_ms = timeout_of(c),
				   .connect_timeout_ms = timeout_of(c),
				   .retries = retries,
				   .max_response = ETCD_ANSWER_MAX};
	struct http_response resp = {0};
	int rc;

	*doc = NULL;
	*status = 0;
	if (!url)
		return error_set(err, -ENOMEM, "out of memory");
	rc = http_request(&req, &resp, err);
	if (rc == 0) {
		*doc = resp.body ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
		*status = resp.status;
	}
	http_response_free(&resp);
	free(url);
	return rc;
}

int etcd_health(const struct etcd_client *c, const char *endpoint, struct error *err)
{
	const char *health, *reason;
	json_t *doc = NULL;
	long status;
	/* A GET: http retries it once on 503, which is what an unhealthy member answers. */
	int rc = etcd_get_json(c, endpoint, "/health", 1, &doc, &status, err);

	if (rc < 0)
		return rc;
	health = json_string_value(json_object_get(doc, "health"));
	reason = json_string_value(json_object_get(doc, "reason")); /* 3.5 only */
	if (!health)
		rc = error_set(err, -EPROTO, "%s/health: HTTP %ld, not an etcd health answer",
			       endpoint, status);
	else if (strcmp(health, "true") != 0)
		rc = error_set(err, -EIO,
			       "%s/health: unhealthy%s%s (no leader, an alarm, or no quorum to "
			       "read through raft)",
			       endpoint, reason && *reason ? ": " : "", reason ? reason : "");
	json_decref(doc);
	return rc;
}

int etcd_version_get(const struct etcd_client *c, const char *endpoint, char **server,
		     char **cluster, struct error *err)
{
	const char *s, *cl;
	json_t *doc = NULL;
	long status;
	int rc;

	*server = *cluster = NULL;
	rc = etcd_get_json(c, endpoint, "/version", 0, &doc, &status, err);
	if (rc < 0)
		return rc;
	s = json_string_value(json_object_get(doc, "etcdserver"));
	cl = json_string_value(json_object_get(doc, "etcdcluster"));
	if (!s || !cl)
		rc = error_set(err, -EPROTO, "%s/version: HTTP %ld, not an etcd version answer",
			       endpoint, status);
	else if (!(*server = strdup(s)) || !(*cluster = strdup(cl))) {
		free(*server);
		*server = NULL;
		rc = error_set(err, -ENOMEM, "out of memory");
	}
	json_decref(doc);
	return rc;
}

int etcd_tls_check(const struct http_tls *tls, struct error *err)
{
	const char *const names[] = {"ca_cert", "client_cert", "client_key"};
	const char *const files[] = {tls->ca_file, tls->cert_file, tls->key_file};

	if (!tls->cert_file != !tls->key_file)
		return error_set(err, -EINVAL,
				 "client_cert and client_key go together: give both or neither");
	for (size_t i = 0; i < 3; i++)
		if (files[i] && access(files[i], R_OK) != 0)
			return error_set(err, -errno, "%s: cannot read %s: %s", names[i], files[i],
					 strerror(errno));
	return 0;
}

int etcd_revision(struct etcd_client *c, uint64_t *revision, struct error *err)
{
	json_t *body = json_pack("{s:s, s:b}", "key", "AA==", "count_only", 1), *answer = NULL;
	int rc = etcd_call(c, "kv/range", body, &answer, err);

	if (rc == 0)
		rc = etcd_uint64_from_json(
		    json_object_get(json_object_get(answer, "header"), "revision"), revision);
	json_decref(body);
	json_decref(answer);
	return rc;
}
