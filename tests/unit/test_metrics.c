/* cmocka tests of module_utils/metrics: the textfile format, atomic files, carried-over values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "test_util.h"

#include "fs.h"
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *config_json(const char *sub)
{
	char path[128];

	snprintf(path, sizeof(path), "%s%s", dir, sub);
	return json_pack("{s:s, s:s, s:s, s:s}", "dir", path, "cluster", "prod", "node", "etcd-1",
			 "kind", "peer");
}

static void test_config_defaults_and_errors(void **state)
{
	struct metrics_config cfg;
	struct error err;
	json_t *bad;

	(void)state;
	assert_int_equal(metrics_config_parse(NULL, "metrics.", "etcd", &cfg, &err), 0);
	assert_null(cfg.dir);
	bad = json_pack("{s:s}", "dir", "");
	assert_int_equal(metrics_config_parse(bad, "metrics.", "etcd", &cfg, &err), 0);
	assert_null(cfg.dir); /* '' is off */
	json_decref(bad);
	bad = json_pack("{s:s}", "dir", "/x");
	assert_int_equal(metrics_config_parse(bad, "metrics.", "etcd", &cfg, &err), 0);
	assert_string_equal(cfg.cluster, "default");
	assert_string_equal(cfg.kind, "etcd");
	assert_true(strlen(cfg.node) > 0); /* the host name */
	json_decref(bad);
	bad = json_pack("{s:s}", "dir", "relative");
	assert_int_equal(metrics_config_parse(bad, "metrics.", "etcd", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "metrics.dir"));
	json_decref(bad);
	bad = json_pack("{s:s, s:s}", "dir", "/x", "nodes", "a");
	assert_int_equal(metrics_config_parse(bad, "metrics.", "etcd", &cfg, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "metrics.nodes"));
	json_decref(bad);
	bad = json_pack("{s:i}", "dir", 3);
	assert_int_equal(metrics_config_parse(bad, "metrics.", "etcd", &cfg, &err), -EINVAL);
	json_decref(bad);
}

static void test_textfile_format(void **state)
{
	json_t *obj = config_json("/sub/dir");
	struct metrics_config cfg;
	struct metrics *m;
	struct error err;
	struct stat st;
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(metrics_config_parse(obj, "metrics.", NULL, &cfg, &err), 0);
	m = metrics_new(&cfg, "cert");
	assert_non_null(m);
	assert_non_null(strstr(metrics_path(m), "/sub/dir/etcd-ansible-cert-prod-peer.prom"));
	metrics_gauge(m, "cert_not_after_timestamp_seconds", "Not after.\nsecond line", 1790000000);
	metrics_gauge(m, "cert_not_after_timestamp_seconds", "dup", 1); /* ignored */
	metrics_gauge(m, "drill_duration_seconds", "Duration.", 1.25);
	metrics_gauge(m, "bad name", "refused", 1);
	assert_int_equal(metrics_commit(m, &err), 0);
	assert_int_equal(fs_read_file(metrics_path(m), 4096, &text, &len, &err), 0);
	assert_string_equal(
	    text, "# HELP etcd_ansible_cert_not_after_timestamp_seconds Not after.\\nsecond line\n"
		  "# TYPE etcd_ansible_cert_not_after_timestamp_seconds gauge\n"
		  "etcd_ansible_cert_not_after_timestamp_seconds"
		  "{cluster=\"prod\",kind=\"peer\",node=\"etcd-1\"} 1790000000\n"
		  "# HELP etcd_ansible_drill_duration_seconds Duration.\n"
		  "# TYPE etcd_ansible_drill_duration_seconds gauge\n"
		  "etcd_ansible_drill_duration_seconds"
		  "{cluster=\"prod\",kind=\"peer\",node=\"etcd-1\"} 1.25\n");
	assert_int_equal(stat(metrics_path(m), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	free(text);
	metrics_free(m);
	json_decref(obj);
}

static void test_previous_values_carry_over(void **state)
{
	json_t *obj = config_json("");
	struct metrics_config cfg;
	struct metrics *m;
	struct error err;
	double v = 0;

	(void)state;
	assert_int_equal(metrics_config_parse(obj, "", NULL, &cfg, &err), 0);
	m = metrics_new(&cfg, "backup");
	assert_int_equal(metrics_previous(m, "backup_last_success_timestamp_seconds", &v), -ENOENT);
	metrics_gauge(m, "backup_last_success_timestamp_seconds", "t", 1700000123);
	metrics_gauge(m, "backup_last_success", "r", 1);
	assert_int_equal(metrics_commit(m, &err), 0);
	metrics_free(m);

	m = metrics_new(&cfg, "backup");
	assert_int_equal(metrics_previous(m, "backup_last_success_timestamp_seconds", &v), 0);
	assert_true(v == 1700000123.0);
	/* a prefix of another name is not that name */
	assert_int_equal(metrics_previous(m, "backup_last", &v), -ENOENT);
	assert_int_equal(metrics_previous(m, "backup_last_success", &v), 0);
	assert_true(v == 1.0);
	metrics_free(m);
	json_decref(obj);
}

static void test_labels_escaped_and_file_names_safe(void **state)
{
	char out[32];
	json_t *obj = json_pack("{s:s, s:s, s:s, s:s}", "dir", dir, "cluster", "a/../b\"", "node",
				"n\\1", "kind", "x\ny");
	struct metrics_config cfg;
	struct metrics *m;
	struct error err;
	const char *text;

	(void)state;
	assert_true(metrics_escape_label("a\"b\\c\nd", out, sizeof(out)));
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	assert_false(metrics_escape_label("0123456789", out, 5));
	assert_int_equal(metrics_config_parse(obj, "", NULL, &cfg, &err), 0);
	m = metrics_new(&cfg, "drill");
	assert_non_null(m);
	assert_null(strstr(metrics_path(m) + strlen(dir), "/.."));
	assert_non_null(strstr(metrics_path(m), "etcd-ansible-drill-a_.._b_-x_y.prom"));
	metrics_gauge(m, "drill_keys", "k", 3);
	text = metrics_text(m);
	assert_non_null(
	    strstr(text, "{cluster=\"a/../b\\\"\",kind=\"x\\ny\",node=\"n\\\\1\"} 3\n"));
	metrics_free(m);
	json_decref(obj);
}

static void test_job_result_keeps_the_last_success(void **state)
{
	json_t *obj =
	    json_pack("{s:s, s:s, s:i}", "dir", dir, "kind", "etcd", "interval_seconds", 1800);
	struct metrics_config cfg;
	struct metrics *m;
	struct error err;
	double ok_at = 0, v = 0;

	(void)state;
	assert_int_equal(metrics_config_parse(obj, "", NULL, &cfg, &err), 0);
	m = metrics_new(&cfg, "backup");
	metrics_job_result(m, "backup", true, 2.5);
	metrics_gauge_or_previous(m, "backup_stored_bytes", "b", true, 1234);
	assert_int_equal(metrics_commit(m, &err), 0);
	metrics_free(m);

	m = metrics_new(&cfg, "backup");
	assert_int_equal(metrics_previous(m, "backup_last_success_timestamp_seconds", &ok_at), 0);
	assert_true(ok_at > 1.7e9);
	metrics_job_result(m, "backup", false, 0.5);
	metrics_gauge_or_previous(m, "backup_stored_bytes", "b", false, 0);
	metrics_gauge_or_previous(m, "backup_objects_kept", "k", false, 0); /* never known */
	assert_int_equal(metrics_commit(m, &err), 0);
	metrics_free(m);

	m = metrics_new(&cfg, "backup");
	assert_int_equal(metrics_previous(m, "backup_last_success_timestamp_seconds", &v), 0);
	assert_true(v == ok_at);
	assert_int_equal(metrics_previous(m, "backup_last_attempt_success", &v), 0);
	assert_true(v == 0);
	assert_int_equal(metrics_previous(m, "backup_stored_bytes", &v), 0);
	assert_true(v == 1234);
	assert_int_equal(metrics_previous(m, "backup_interval_seconds", &v), 0);
	assert_true(v == 1800);
	assert_int_equal(metrics_previous(m, "backup_objects_kept", &v), -ENOENT);
	metrics_free(m);
	json_decref(obj);
}

static void test_off_means_nothing(void **state)
{
	struct metrics_config cfg = {0};
	struct error err;

	(void)state;
	assert_null(metrics_new(&cfg, "cert"));
	metrics_gauge(NULL, "x", "y", 1); /* callers need no checks */
	assert_int_equal(metrics_commit(NULL, &err), 0);
	metrics_free(NULL);
}

static void test_unwritable_dir_is_an_error(void **state)
{
	json_t *obj = json_pack("{s:s}", "dir", "/proc/etcd-ansible-metrics");
	struct metrics_config cfg;
	struct metrics *m;
	struct error err;

	(void)state;
	assert_int_equal(metrics_config_parse(obj, "", "etcd", &cfg, &err), 0);
	m = metrics_new(&cfg, "backup");
	metrics_gauge(m, "backup_last_success", "r", 0);
	assert_true(metrics_commit(m, &err) < 0);
	assert_non_null(strstr(err.msg, "metrics"));
	metrics_free(m);
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults_and_errors),
	    cmocka_unit_test(test_textfile_format),
	    cmocka_unit_test(test_previous_values_carry_over),
	    cmocka_unit_test(test_labels_escaped_and_file_names_safe),
	    cmocka_unit_test(test_job_result_keeps_the_last_success),
	    cmocka_unit_test(test_off_means_nothing),
	    cmocka_unit_test(test_unwritable_dir_is_an_error),
	};

	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
