/*
 * cmocka tests of module_utils/etcd_cluster without a network: which member the options name
 * (and the refusals when they disagree), the wording of versions and unhealthy endpoints, the
 * leader the probes know, and the TLS hints by reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "etcd_cluster.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Three members as etcd 3.5 lists them: two voters, and a learner added but not started (no
 * name, no client URLs). IDs: 0x10 = 16, 0x20 = 32, 0x30 = 48. */
static const char MEMBERS[] =
    "{\"header\":{\"cluster_id\":\"7\"},\"members\":["
    "{\"ID\":\"16\",\"name\":\"a\",\"peerURLs\":[\"https://a:2380\"],"
    "\"clientURLs\":[\"https://a:2379\"]},"
    "{\"ID\":\"32\",\"name\":\"b\",\"peerURLs\":[\"https://b:2380\"],"
    "\"clientURLs\":[\"https://b:2379\"]},"
    "{\"ID\":\"48\",\"peerURLs\":[\"https://c:2380\"],\"isLearner\":true}]}";

static struct etcd_member_list members(void)
{
	struct etcd_member_list list;
	struct error err = {0};
	json_t *doc = json_loads(MEMBERS, 0, NULL);

	assert_non_null(doc);
	if (etcd_member_list_parse(doc, &list, &err) != 0)
		fail_msg("parse failed: %s", err.msg);
	json_decref(doc);
	return list;
}

static void test_find_by_id_name_and_urls(void **state)
{
	struct etcd_member_list list = members();
	const char *const c_urls[] = {"https://c:2380/"};
	struct etcd_member_ref by_id = {.id = "20"}, by_decimal = {.id = "48"};
	struct etcd_member_ref by_urls = {.name = "c", .peer_urls = c_urls, .n_peer_urls = 1};
	struct etcd_member_ref bad = {.id = "zz"}, none = {.name = "d"};
	const struct etcd_member *found;
	struct error err = {0};

	(void)state;
	assert_int_equal(etcd_member_find_target(&list, &by_id, &found, &err), 0);
	assert_ptr_equal(found, &list.members[1]); /* hex first: 0x20 */
	assert_int_equal(etcd_member_find_id(&list, by_decimal.id, &found, &err), 0);
	assert_ptr_equal(found, &list.members[2]); /* 0x48 is no member: decimal 48 is */
	assert_int_equal(etcd_member_find_target(&list, &by_urls, &found, &err), 0);
	assert_ptr_equal(found, &list.members[2]); /* the learner, by its peer URL */
	assert_int_equal(etcd_member_find_target(&list, &none, &found, &err), 0);
	assert_null(found);
	assert_int_equal(etcd_member_find_named(&list, &bad, &found, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "id: "));
	etcd_member_list_free(&list);
}

static void test_find_target_refuses_disagreement(void **state)
{
	struct etcd_member_list list = members();
	const char *const b_urls[] = {"https://b:2380"};
	const char *const other[] = {"https://a:9999"};
	struct etcd_member_ref two = {.name = "a", .peer_urls = b_urls, .n_peer_urls = 1};
	struct etcd_member_ref taken = {.name = "new", .peer_urls = b_urls, .n_peer_urls = 1};
	struct etcd_member_ref moved = {.name = "a", .peer_urls = other, .n_peer_urls = 1};
	const struct etcd_member *found;
	struct error err = {0};

	(void)state;
	assert_int_equal(etcd_member_find_target(&list, &two, &found, &err), -EINVAL);
	assert_string_equal(err.msg, "name and peer_urls name two different members: 'a' (10) "
				     "and 'b' (20)");
	assert_int_equal(etcd_member_find_target(&list, &taken, &found, &err), -EINVAL);
	assert_string_equal(err.msg, "peer_urls: already used by member 'b' (20), not 'new'");
	assert_int_equal(etcd_member_find_target(&list, &moved, &found, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "peer_urls: member 'a' (10) has other peer URLs"));
	etcd_member_list_free(&list);
}

static void test_find_running(void **state)
{
	struct etcd_member_list list = members();
	struct etcd_member_ref by_name = {.name = "b"}, missing = {.name = "x"}, id = {.id = "99"};
	const struct etcd_member *found;
	struct error err = {0};

	(void)state;
	assert_int_equal(etcd_member_find_running(&list, &by_name, &found, &err), 0);
	assert_ptr_equal(found, &list.members[1]);
	assert_int_equal(etcd_member_find_running(&list, &missing, &found, &err), -ENOENT);
	assert_string_equal(err.msg, "no member named 'x' in the cluster");
	assert_int_equal(etcd_member_find_running(&list, &id, &found, &err), -ENOENT);
	assert_string_equal(err.msg, "no member with id '99' in the cluster");
	etcd_member_list_free(&list);
}

static void test_describe_versions_oldest_first(void **state)
{
	struct etcd_member_list list = members();
	struct etcd_semver v[3];
	char buf[128];

	(void)state;
	assert_int_equal(etcd_semver_parse("3.5.16", &v[0]), 0);
	assert_int_equal(etcd_semver_parse("3.4.23", &v[1]), 0);
	assert_int_equal(etcd_semver_parse("3.5.16", &v[2]), 0);
	etcd_describe_versions(&list, v, buf, sizeof(buf));
	assert_string_equal(buf, "3.4.23 on b; 3.5.16 on a ");
	etcd_member_list_free(&list);
}

static void test_probes_unhealthy_and_leader(void **state)
{
	struct etcd_probe p[3] = {
	    {.endpoint = "https://a:2379", .answered = true, .healthy = true},
	    {.endpoint = "https://b:2379", .answered = false},
	    {.endpoint = "https://c:2379", .answered = true},
	};
	char buf[128];

	(void)state;
	p[2].status.leader = 32;
	etcd_list_unhealthy(p, 3, buf, sizeof(buf));
	assert_string_equal(buf, "https://b:2379, https://c:2379");
	/* the first endpoint that answered with a leader */
	assert_int_equal(etcd_probes_leader(p, 3), 32);
	assert_int_equal(etcd_probes_leader(p, 2), 0);
}

static void test_tls_hints_by_reason(void **state)
{
	struct http_tls none = {0}, with_ca = {.ca_file = "/nonexistent/ca.crt"};
	struct error err = {0};

	(void)state;
	err.reason = ERROR_TLS_UNTRUSTED;
	assert_non_null(strstr(etcd_tls_hint(&none, &err), "set ca_cert"));
	assert_non_null(strstr(etcd_tls_hint(&with_ca, &err), "against ca_cert"));
	err.reason = ERROR_TLS_CLOSED;
	assert_non_null(strstr(etcd_tls_hint(&none, &err), "set client_cert and client_key"));
	err.reason = ERROR_TLS_NAME;
	assert_non_null(strstr(etcd_tls_hint(&none, &err), "does not name that host"));
	err.reason = ERROR_UNKNOWN;
	assert_string_equal(etcd_tls_hint(&none, &err), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_find_by_id_name_and_urls),
	    cmocka_unit_test(test_find_target_refuses_disagreement),
	    cmocka_unit_test(test_find_running),
	    cmocka_unit_test(test_describe_versions_oldest_first),
	    cmocka_unit_test(test_probes_unhealthy_and_leader),
	    cmocka_unit_test(test_tls_hints_by_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
