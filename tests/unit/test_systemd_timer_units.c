/*
 * cmocka tests of module_utils/units: the text of the unit pair, ExecStart=/Environment= quoting,
 * and the time span / calendar / name checks.
 *
 * The accept/refuse lists are vectors from outside: each verdict (and each µs value) was taken
 * from `systemd-analyze calendar|timespan` of systemd 252.39 on a test host, and
 * tests/integration/systemd_timer_vs_systemd.sh re-checks them against the live systemd. The
 * only deliberate differences are listed in refused_by_us_only[]. The quoting strings were proved
 * by running a service with these arguments under systemd 252 and reading back its argv.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- calendar events ---------------------------------------------------------------------- */

static const char *const calendar_good[] = {
    "minutely",
    "hourly",
    "daily",
    "weekly",
    "monthly",
    "quarterly",
    "semiannually",
    "semi-annually",
    "yearly",
    "annually",
    "DAILY",
    "daily UTC",
    "daily utc",
    "Daily",
    "*-*-* 00:00:00",
    "*-*-* 02:00",
    "Mon..Fri *-*-* 02:00",
    "Mon-Fri 02:00",
    "Mon,Wed,Fri 10:00",
    "Sat,Sun",
    "Mon",
    "monday",
    "Mon,",
    "Monday..Friday 9:00",
    "*:0/15",
    "*:1/15",
    "*:00,15,30,45",
    "*:*:0/10",
    "*-*-* *:*:00",
    "2024-01-01",
    "2024-01-01 00:00:00",
    "24-01-01",
    "2199-12-31",
    "*-02~03",
    "*-02~03 10:00",
    "*-*~1",
    "*-*~28",
    "2024-*~03",
    "*-*-1..7 08:00",
    "*-*-1..7/2 08:00",
    "*-*-31",
    "23:59:59",
    "12:30:59.5",
    "12:30:00.123456",
    "*:*:1..2",
    "*:*:0..59/100",
    "*:0/59",
    "1,2,3:00",
    "1..3:00",
    "Mon 2024-01-01 UTC",
    "2024-01-01 12:00 UTC",
    "*-*-* ",
    " daily",
    "Mon  10:00",
    "Mon *-*-*  10:00",
    "*-*",
    "1-1",
    "01-01 00:00",
    "*:*:*",
    "*:*",
    "Mon-Wed,Fri",
    "Mon..Wed,Fri..Sun 12:00",
    "mon..fri",
    "minutely UTC",
    "*-*-* 00:00:00 UTC",
};

static const char *const calendar_bad[] = {
    "Mon..",	       "Fri..Mon",   "Mond",	   "*:*/15",
    "1969-01-01",      "2200-01-01", "*-*~29",	   "*-05~1/2",
    "*-*-32",	       "*-13-01",    "*-00-01",	   "*-*-00",
    "25:00",	       "23:59:60",   "12:60",	   "*:*:1..1",
    "*:30/45",	       "*:0/60",     "*:0/0",	   "3..1:00",
    "Mon *-*-* 25:00", "12:00  UTC", "10:00 junk", "*-*-*-*",
    "12:00:00:00",     "*",	     "**",	   "-",
    "Sun..Sat",	       "Tue..Mon",   "",	   "   ",
    "daily\n",	       "hourly;",    "every day",
};

/* systemd accepts these; we refuse them on purpose (see units.h). */
static const char *const refused_by_us_only[] = {
    "@1700000000",
    "2024-01-01 12:00 Europe/Berlin",
    "2024-01-01 12:00 CET",
};

static void test_calendar_accepts_what_systemd_accepts(void **state)
{
	struct error err;

	(void)state;
	for (size_t i = 0; i < COUNT(calendar_good); i++)
		if (units_check_calendar(calendar_good[i], &err) != 0)
			fail_msg("expected '%s' accepted, got: %s", calendar_good[i], err.msg);
}

static void test_calendar_refuses_what_systemd_refuses(void **state)
{
	struct error err;

	(void)state;
	for (size_t i = 0; i < COUNT(calendar_bad); i++)
		if (units_check_calendar(calendar_bad[i], &err) != -EINVAL)
			fail_msg("expected '%s' refused, got accepted", calendar_bad[i]);
	for (size_t i = 0; i < COUNT(refused_by_us_only); i++)
		if (units_check_calendar(refused_by_us_only[i], &err) != -EINVAL)
			fail_msg("expected '%s' refused, got accepted", refused_by_us_only[i]);
}

static void expect_in(const char *msg, const char *needle)
{
	if (!strstr(msg, needle))
		fail_msg("expected a message mentioning '%s', got: %s", needle, msg);
}

static void test_calendar_message_says_why(void **state)
{
	struct error err;

	(void)state;
	assert_int_equal(units_check_calendar("Mon *-*-* 25:00", &err), -EINVAL);
	expect_in(err.msg, "'Mon *-*-* 25:00' is not a calendar event systemd accepts");
	expect_in(err.msg, "hour out of range 0..23");
	assert_int_equal(units_check_calendar("02:00 Europe/Berlin", &err), -EINVAL);
	expect_in(err.msg, "UTC is the only time zone accepted");
	assert_int_equal(units_check_calendar("@1700000000", &err), -EINVAL);
	expect_in(err.msg, "\"@seconds\" timestamps are not supported");
}

/* ---- time spans --------------------------------------------------------------------------- */

static const struct {
	const char *text;
	uint64_t usec;
} span_good[] = {
    {"5s", 5000000},
    {"5", 5000000},
    {"0", 0},
    {"5min", 300000000},
    {"5m", 300000000},
    {"5M", 13149000000000},
    {"1h 30min", 5400000000},
    {"1h30min", 5400000000},
    {"1.5h", 5400000000},
    {"1.5", 1500000},
    {"2d", 172800000000},
    {"1w", 604800000000},
    {"1y", 31557600000000},
    {"3 months", 7889400000000},
    {"500ms", 500000},
    {"500msec", 500000},
    {"10us", 10},
    {"10\xc2\xb5s", 10},
    {"10\xce\xbcs", 10},
    {"5 s", 5000000},
    {"5 min 3", 303000000},
    {"5sec5", 10000000},
    {" 5s ", 5000000},
    {"9223372036854775807us", 9223372036854775807ULL},
    {"1.0000001s", 1000000},
    {"0.1us", 0},
    {"1h 30min 15s 500ms", 5415500000},
    {"2hr", 7200000000},
    {"1msec1s", 1001000},
    {"1 2 3", 6000000},
};

static const char *const span_bad[] = {
    "1.",
    "5x",
    "5 x",
    "5mins",
    "1h-5",
    "-5",
    "1e3",
    "18446744073709551615",
    "9223372036854775807",
    "100000000000y",
    "5ss",
    "h",
    "12:00",
    "",
    "  ",
    /* systemd takes these; we refuse them (no use in a job timer, or a typo more likely) */
    ".5",
    "+5",
    "infinity",
};

static void test_timespan_values_match_systemd(void **state)
{
	struct error err;
	uint64_t usec;

	(void)state;
	for (size_t i = 0; i < COUNT(span_good); i++) {
		usec = 42;
		if (units_parse_timespan(span_good[i].text, &usec, &err) != 0)
			fail_msg("expected '%s' accepted, got: %s", span_good[i].text, err.msg);
		if (usec != span_good[i].usec)
			fail_msg("'%s': expected %llu us, got %llu", span_good[i].text,
				 (unsigned long long)span_good[i].usec, (unsigned long long)usec);
	}
}

static void test_timespan_refuses(void **state)
{
	struct error err;
	uint64_t usec;

	(void)state;
	for (size_t i = 0; i < COUNT(span_bad); i++)
		if (units_parse_timespan(span_bad[i], &usec, &err) != -EINVAL)
			fail_msg("expected '%s' refused, got %llu us", span_bad[i],
				 (unsigned long long)usec);
	assert_int_equal(units_parse_timespan("5mins", &usec, &err), -EINVAL);
	expect_in(err.msg, "'5mins' is not a time span systemd accepts: unknown unit");
}

/* ---- names -------------------------------------------------------------------------------- */

static void test_names(void **state)
{
	static const char *const good[] = {"etcd-backup", "a", "cert-renewer@etcd-peer", "x_y.z:1",
					   "a\\x2db"};
	static const char *const bad[] = {"",
					  "etcd-backup.service",
					  "etcd-backup.timer",
					  "a/b",
					  "a b",
					  "@x",
					  "x@",
					  ".hidden",
					  "a;b",
					  "ümlaut"};
	char long_name[UNITS_NAME_MAX + 2];
	struct error err;

	(void)state;
	for (size_t i = 0; i < COUNT(good); i++)
		if (units_check_name(good[i], &err) != 0)
			fail_msg("expected name '%s' accepted, got: %s", good[i], err.msg);
	for (size_t i = 0; i < COUNT(bad); i++)
		if (units_check_name(bad[i], &err) != -EINVAL)
			fail_msg("expected name '%s' refused", bad[i]);
	memset(long_name, 'a', sizeof(long_name));
	long_name[UNITS_NAME_MAX] = '\0';
	assert_int_equal(units_check_name(long_name, &err), 0);
	long_name[UNITS_NAME_MAX] = 'a';
	long_name[UNITS_NAME_MAX + 1] = '\0';
	assert_int_equal(units_check_name(long_name, &err), -EINVAL);
	assert_int_equal(units_check_name("x.service", &err), -EINVAL);
	expect_in(err.msg, "without the .service suffix");
}

/* ---- quoting ------------------------------------------------------------------------------ */

static void test_exec_arg_quoting(void **state)
{
	static const struct {
		const char *arg, *quoted;
	} cases[] = {
	    {"plain", "plain"},
	    {"/etc/etcd/backup.json", "/etc/etcd/backup.json"},
	    {"--opt=a,b", "--opt=a,b"},
	    {"two words", "\"two words\""},
	    {"100%", "100%%"},
	    {"$HOME", "$$HOME"},
	    {"${HOME}", "\"$${HOME}\""},
	    {"$$", "$$$$"},
	    {";", "\";\""},
	    {"a\"b\\c", "\"a\\\"b\\\\c\""},
	    {"it's", "\"it's\""},
	    {"tab\there", "\"tab\\there\""},
	    {"new\nline", "\"new\\nline\""},
	    {"", "\"\""},
	    {"\\", "\"\\\\\""},
	    {"\x01", "\"\\x01\""},
	    {"\xc3\xbcn", "\"\xc3\xbcn\""},
	    {"%n", "%%n"},
	};

	(void)state;
	for (size_t i = 0; i < COUNT(cases); i++) {
		char *got = units_quote_exec_arg(cases[i].arg);

		assert_non_null(got);
		assert_string_equal(got, cases[i].quoted);
		free(got);
	}
}

static void test_env_quoting_and_names(void **state)
{
	struct error err;
	char *got;

	(void)state;
	/* "$" is literal in Environment= (no expansion there), "%" is a specifier. */
	got = units_quote_env("A", "50% \"q\" $HOME \\ end\\");
	assert_string_equal(got, "\"A=50%% \\\"q\\\" $HOME \\\\ end\\\\\"");
	free(got);
	got = units_quote_env("B", "x\ny");
	assert_string_equal(got, "\"B=x\\ny\"");
	free(got);
	got = units_quote_env("C", "");
	assert_string_equal(got, "\"C=\"");
	free(got);
	assert_int_equal(units_check_env_name("ETCDCTL_API", &err), 0);
	assert_int_equal(units_check_env_name("_x1", &err), 0);
	assert_int_equal(units_check_env_name("1X", &err), -EINVAL);
	assert_int_equal(units_check_env_name("A-B", &err), -EINVAL);
	assert_int_equal(units_check_env_name("A=B", &err), -EINVAL);
	assert_int_equal(units_check_env_name("", &err), -EINVAL);
}

/* ---- rendering ---------------------------------------------------------------------------- */

static const char *const backup_exec[] = {"/opt/bin/kms_s3_backup", "/etc/etcd/backup args.json"};
static const char *const backup_calendar[] = {"*-*-* 02:00:00", " Sun 04:00 "};
static const struct unit_env backup_env[] = {
    {"ZONE", "eu west"},
    {"AWS_REGION", "eu-west-1"},
};

static struct timer_unit full_unit(void)
{
	return (struct timer_unit){
	    .name = "etcd-backup",
	    .description = "Back up etcd (100%)",
	    .exec = backup_exec,
	    .exec_count = COUNT(backup_exec),
	    .user = "etcd",
	    .group = "etcd",
	    .working_directory = "/var/lib/etcd",
	    .log_file = "/var/log/etcd-backups/etcd-backup.log",
	    .env = backup_env,
	    .env_count = COUNT(backup_env),
	    .on_calendar = backup_calendar,
	    .on_calendar_count = COUNT(backup_calendar),
	    .on_boot_sec = "5min",
	    .on_unit_active_sec = "1h",
	    .randomized_delay_sec = "10min",
	    .accuracy_sec = "1s",
	    .timeout_start_sec = "infinity",
	    .has_nice = true,
	    .nice = 10,
	    .io_scheduling_class = "idle",
	    .memory_max = "2G",
	    .persistent = true,
	};
}

static void test_render_full_pair(void **state)
{
	struct timer_unit u = full_unit();
	char *service = NULL, *timer = NULL;
	struct error err;

	(void)state;
	assert_int_equal(units_check(&u, &err), 0);
	assert_int_equal(units_render_service(&u, &service, &err), 0);
	assert_int_equal(units_render_timer(&u, &timer, &err), 0);
	assert_string_equal(
	    service, "# Managed by etcd-ansible (systemd_timer): local changes are overwritten.\n"
		     "[Unit]\n"
		     "Description=Back up etcd (100%%)\n"
		     "\n"
		     "[Service]\n"
		     "Type=oneshot\n"
		     "User=etcd\n"
		     "Group=etcd\n"
		     "WorkingDirectory=/var/lib/etcd\n"
		     "Environment=\"AWS_REGION=eu-west-1\"\n"
		     "Environment=\"ZONE=eu west\"\n"
		     "Nice=10\n"
		     "IOSchedulingClass=idle\n"
		     "MemoryMax=2G\n"
		     "TimeoutStartSec=infinity\n"
		     "StandardOutput=append:/var/log/etcd-backups/etcd-backup.log\n"
		     "StandardError=append:/var/log/etcd-backups/etcd-backup.log\n"
		     "ExecStart=/opt/bin/kms_s3_backup \"/etc/etcd/backup args.json\"\n");
	assert_string_equal(
	    timer, "# Managed by etcd-ansible (systemd_timer): local changes are overwritten.\n"
		   "[Unit]\n"
		   "Description=Back up etcd (100%%)\n"
		   "\n"
		   "[Timer]\n"
		   "OnCalendar=*-*-* 02:00:00\n"
		   "OnCalendar=Sun 04:00\n"
		   "OnBootSec=5min\n"
		   "OnUnitActiveSec=1h\n"
		   "RandomizedDelaySec=10min\n"
		   "AccuracySec=1s\n"
		   "Persistent=true\n"
		   "Unit=etcd-backup.service\n"
		   "\n"
		   "[Install]\n"
		   "WantedBy=timers.target\n");
	free(service);
	free(timer);
}

static void test_render_minimal_pair(void **state)
{
	static const char *const exec[] = {"/bin/true"};
	static const char *const calendar[] = {"daily"};
	struct timer_unit u = {
	    .name = "tick",
	    .exec = exec,
	    .exec_count = 1,
	    .on_calendar = calendar,
	    .on_calendar_count = 1,
	};
	char *service = NULL, *timer = NULL;
	struct error err;

	(void)state;
	assert_int_equal(units_check(&u, &err), 0);
	assert_int_equal(units_render_service(&u, &service, &err), 0);
	assert_int_equal(units_render_timer(&u, &timer, &err), 0);
	assert_string_equal(service,
			    UNITS_HEADER "\n[Service]\nType=oneshot\nExecStart=/bin/true\n");
	assert_string_equal(timer, UNITS_HEADER
			    "\n[Timer]\nOnCalendar=daily\nPersistent=false\n"
			    "Unit=tick.service\n\n[Install]\nWantedBy=timers.target\n");
	free(service);
	free(timer);
}

/* Persistent= only with OnCalendar=: its stamp would make a re-created timer skip OnBootSec=. */
static void test_render_monotonic_only(void **state)
{
	static const char *const exec[] = {"/bin/true"};
	struct timer_unit u = {
	    .name = "tick",
	    .exec = exec,
	    .exec_count = 1,
	    .on_boot_sec = "1s",
	    .on_unit_active_sec = "5s",
	    .persistent = true,
	};
	char *timer = NULL;
	struct error err;

	(void)state;
	assert_int_equal(units_check(&u, &err), 0);
	assert_int_equal(units_render_timer(&u, &timer, &err), 0);
	assert_string_equal(timer, UNITS_HEADER
			    "\n[Timer]\nOnBootSec=1s\nOnUnitActiveSec=5s\n"
			    "Unit=tick.service\n\n[Install]\nWantedBy=timers.target\n");
	free(timer);
}

static void test_render_is_deterministic(void **state)
{
	static const struct unit_env reversed[] = {{"AWS_REGION", "eu-west-1"},
						   {"ZONE", "eu west"}};
	struct timer_unit a = full_unit(), b = full_unit();
	char *text_a = NULL, *text_b = NULL;
	struct error err;

	(void)state;
	b.env = reversed; /* same variables, other order: same file */
	assert_int_equal(units_render_service(&a, &text_a, &err), 0);
	assert_int_equal(units_render_service(&b, &text_b, &err), 0);
	assert_string_equal(text_a, text_b);
	free(text_a);
	free(text_b);
}

/* units_check: every refusal names the option. */
static void expect_refused(struct timer_unit u, const char *needle)
{
	struct error err;

	if (units_check(&u, &err) != -EINVAL)
		fail_msg("expected a refusal mentioning '%s', got accepted", needle);
	expect_in(err.msg, needle);
}

static void test_check_names_the_option(void **state)
{
	static const char *const relative[] = {"bin/backup"};
	static const char *const quoted[] = {"/opt/bin/it's"};
	static const char *const dir[] = {"/opt/bin/"};
	static const char *const bad_calendar[] = {"daily", "Mon 25:00"};
	static const struct unit_env bad_env[] = {{"1BAD", "x"}};
	struct timer_unit u;

	(void)state;
	u = full_unit();
	u.on_calendar_count = 0;
	u.on_boot_sec = u.on_unit_active_sec = NULL;
	expect_refused(u, "give at least one of on_calendar, on_boot_sec, on_unit_active_sec");
	u = full_unit();
	u.on_calendar = bad_calendar;
	u.on_calendar_count = 2;
	expect_refused(u, "on_calendar: 'Mon 25:00'");
	u = full_unit();
	u.on_boot_sec = "5 minutes later";
	expect_refused(u, "on_boot_sec: '5 minutes later'");
	u = full_unit();
	u.accuracy_sec = "infinity";
	expect_refused(u, "accuracy_sec");
	u = full_unit();
	u.exec_count = 0;
	expect_refused(u, "exec: give the command");
	u = full_unit();
	u.exec = relative;
	u.exec_count = 1;
	expect_refused(u, "exec: the command 'bin/backup' must be an absolute path");
	u = full_unit();
	u.exec = quoted;
	u.exec_count = 1;
	expect_refused(u, "exec: the command path");
	u = full_unit();
	u.exec = dir;
	u.exec_count = 1;
	expect_refused(u, "must be an absolute path to a file");
	u = full_unit();
	u.env = bad_env;
	u.env_count = 1;
	expect_refused(u, "environment: '1BAD' is not a variable name");
	u = full_unit();
	u.user = "root\nExecStartPre=/bin/evil";
	expect_refused(u, "user:");
	u = full_unit();
	u.description = "two\nlines";
	expect_refused(u, "description: must be one line");
	u = full_unit();
	u.description = "ends with \\";
	expect_refused(u, "description:");
	u = full_unit();
	u.working_directory = "var/lib";
	expect_refused(u, "working_directory: 'var/lib' must be an absolute path");
	u = full_unit();
	u.working_directory = "/var/../etc";
	expect_refused(u, "working_directory");
	u = full_unit();
	u.log_file = "/var/log/backup log";
	expect_refused(u, "log_file: '/var/log/backup log' must not contain spaces");
	u = full_unit();
	u.log_file = "log";
	expect_refused(u, "log_file: 'log' must be an absolute path");
	u = full_unit();
	u.nice = 20;
	expect_refused(u, "nice: 20 is outside -20..19");
	u = full_unit();
	u.io_scheduling_class = "lowest";
	expect_refused(u, "io_scheduling_class: 'lowest' is not");
	u = full_unit();
	u.memory_max = "2 GB";
	expect_refused(u, "memory_max: '2 GB' is not a size");
	u = full_unit();
	u.memory_max = "G";
	expect_refused(u, "memory_max: 'G' is not a size");
	u = full_unit();
	u.memory_max = "50%";
	u.io_scheduling_class = "3";
	assert_int_equal(units_check(&u, &(struct error){0}), 0);
	u = full_unit();
	u.name = "x.timer";
	expect_refused(u, "name: 'x.timer': give the name without the .timer suffix");
}

static void test_split_command(void **state)
{
	static const char *const cases[][2] = {
	    {"/usr/bin/etcdctl endpoint health",
	     "[\"/usr/bin/etcdctl\", \"endpoint\", \"health\"]"},
	    {"  /bin/sh  -c 'echo a  b' ", "[\"/bin/sh\", \"-c\", \"echo a  b\"]"},
	    {"/bin/echo \"x \\\"y\\\" z\" a\\ b", "[\"/bin/echo\", \"x \\\"y\\\" z\", \"a b\"]"},
	    {"/bin/echo 'it''s'", "[\"/bin/echo\", \"its\"]"},
	    {"", "[]"},
	};
	struct error err;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *words = json_array(), *want = json_loads(cases[i][1], 0, NULL);

		assert_non_null(want);
		assert_int_equal(units_split_command(cases[i][0], words, &err), 0);
		if (!json_equal(words, want)) {
			char *got = json_dumps(words, 0);
			fail_msg("split '%s': expected %s, got %s", cases[i][0], cases[i][1], got);
		}
		json_decref(words);
		json_decref(want);
	}
	json_t *words = json_array();
	assert_int_equal(units_split_command("/bin/echo 'open", words, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unbalanced"));
	json_decref(words);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split_command),
	    cmocka_unit_test(test_calendar_accepts_what_systemd_accepts),
	    cmocka_unit_test(test_calendar_refuses_what_systemd_refuses),
	    cmocka_unit_test(test_calendar_message_says_why),
	    cmocka_unit_test(test_timespan_values_match_systemd),
	    cmocka_unit_test(test_timespan_refuses),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_exec_arg_quoting),
	    cmocka_unit_test(test_env_quoting_and_names),
	    cmocka_unit_test(test_render_full_pair),
	    cmocka_unit_test(test_render_minimal_pair),
	    cmocka_unit_test(test_render_monotonic_only),
	    cmocka_unit_test(test_render_is_deterministic),
	    cmocka_unit_test(test_check_names_the_option),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
