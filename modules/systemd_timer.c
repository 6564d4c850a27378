/*
 * systemd_timer: a oneshot NAME.service + NAME.timer pair (docs/architecture.md, Modules).
 *
 * state=present writes both unit files when their text differs, then over sd-bus: daemon-reload,
 * enable and start the timer (restart it when its timing changed), and with run_now runs the
 * service once and waits for it. state=absent stops, disables and removes the pair. The unit
 * text and every check of the options live in module_utils/units.c; the bus calls in sdbus.c.
 */
#include "fs.h"
#include "module.h"
#include "sdbus.h"
#include "units.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Unit files are small; anything bigger at our path is not ours. */
#define UNIT_FILE_MAX (1u << 20)

static const struct option_spec options[] = {
    {.name = "name", .type = OPT_STR, .required = true},
    {.name = "description", .type = OPT_STR},
    {.name = "exec", .type = OPT_RAW}, /* a list only: see read_exec() */
    {.name = "user", .type = OPT_STR, .def = "root"},
    {.name = "group", .type = OPT_STR},
    {.name = "environment", .type = OPT_DICT},
    {.name = "working_directory", .type = OPT_PATH},
    {.name = "log_file", .type = OPT_PATH},
    {.name = "on_calendar", .type = OPT_RAW}, /* calendar specs hold commas: no splitting */
    {.name = "on_boot_sec", .type = OPT_STR},
    {.name = "on_unit_active_sec", .type = OPT_STR},
    {.name = "randomized_delay_sec", .type = OPT_STR},
    {.name = "accuracy_sec", .type = OPT_STR},
    {.name = "persistent", .type = OPT_BOOL, .def = "true"},
    {.name = "nice", .type = OPT_INT},
    {.name = "io_scheduling_class", .type = OPT_STR},
    {.name = "memory_max", .type = OPT_STR},
    {.name = "timeout_start_sec", .type = OPT_STR},
    {.name = "unit_dir", .type = OPT_PATH, .def = "/etc/systemd/system"},
    {.name = "state", .type = OPT_STR, .def = "present"},
    {.name = "enabled", .type = OPT_BOOL, .def = "true"},
    {.name = "run_now", .type = OPT_BOOL, .def = "false"},
    {.name = "timeout", .type = OPT_INT, .def = "300"},
    {0}};

struct timer_job {
	struct timer_unit unit;	       /* what the options ask for */
	json_t *strings;	       /* owns strings made from numbers in exec/environment */
	const char **exec, **calendar; /* arrays of borrowed strings */
	struct unit_env *env;
	char *service_name, *timer_name; /* NAME.service, NAME.timer */
	char *service_path, *timer_path;
	char *service_text, *timer_text; /* wanted (state=present) */
	char *service_old, *timer_old;	 /* on disk now; NULL when absent */
	struct sdbus *bus;		 /* NULL: systemd unreachable (tolerated in check mode) */
	char *timer_active, *timer_file_state, *service_active;
	bool need_reload; /* systemd holds an older text of one of the files */
	uint64_t timeout_usec;
};

struct plan {
	bool write_service, write_timer, reload, enable, disable, start, restart, stop_timer,
	    stop_service, remove, run;
};

/* ---- reading the options ------------------------------------------------------------------ */

/* A string, or a number turned into one (kept alive by job->strings); NULL for anything else. */
static const char *scalar_string(struct timer_job *job, json_t *v)
{
	char buf[32];

	if (json_is_string(v))
		return json_string_value(v);
	if (!json_is_integer(v))
		return NULL;
	snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_array_append_new(job->strings, json_string(buf)) < 0)
		return NULL;
	return json_string_value(json_array_get(job->strings, json_array_size(job->strings) - 1));
}

/*
 * exec is an argv list; a string is split into words like Ansible's command module does
 * (exec="/usr/bin/etcdctl endpoint health" on the command line), never run through a shell.
 */
static int read_exec(struct module *m, struct timer_job *job)
{
	json_t *v = module_get(m, "exec"), *item;
	struct error err;
	size_t i;

	if (json_is_null(v) || !v)
		return 0;
	if (json_is_string(v)) {
		json_t *words = json_array();

		if (!words || units_split_command(json_string_value(v), words, &err) < 0) {
			json_decref(words);
			return module_fail(m, "exec: %s", words ? err.msg : "out of memory");
		}
		json_array_append_new(job->strings, words); /* keeps the words alive with the job */
		v = words;
	}
	if (!json_is_array(v) || json_array_size(v) == 0)
		return module_fail(m,
				   "exec must be a list (or a command line): the command and its "
				   "arguments, e.g. ['/usr/bin/etcdctl', 'endpoint', 'health']");
	job->exec = calloc(json_array_size(v) + 1, sizeof(*job->exec));
	if (!job->exec)
		return module_fail(m, "out of memory");
	json_array_foreach(v, i, item)
	{
		job->exec[i] = scalar_string(job, item);
		if (!job->exec[i])
			return module_fail(m, "exec[%zu] must be a string (quote it in YAML)", i);
	}
	job->unit.exec = job->exec;
	job->unit.exec_count = json_array_size(v);
	return 0;
}

static int read_calendar(struct module *m, struct timer_job *job)
{
	json_t *v = module_get(m, "on_calendar"), *item;
	size_t i, n = json_is_array(v) ? json_array_size(v) : 1;

	if (!v || json_is_null(v))
		return 0;
	job->calendar = calloc(n + 1, sizeof(*job->calendar));
	if (!job->calendar)
		return module_fail(m, "out of memory");
	if (json_is_string(v))
		job->calendar[0] = json_string_value(v);
	json_array_foreach(v, i, item) job->calendar[i] = json_string_value(item);
	for (i = 0; i < n; i++)
		if (!job->calendar[i])
			return module_fail(
			    m, "on_calendar must be a calendar spec or a list of them "
			       "(strings), e.g. 'daily' or ['Mon *-*-* 02:00', 'Fri 04:00']");
	job->unit.on_calendar = job->calendar;
	job->unit.on_calendar_count = n;
	return 0;
}

static int read_environment(struct module *m, struct timer_job *job)
{
	json_t *env = module_get(m, "environment"), *value;
	const char *key;
	size_t n = 0;

	if (!json_is_object(env))
		return 0;
	job->env = calloc(json_object_size(env) + 1, sizeof(*job->env));
	if (!job->env)
		return module_fail(m, "out of memory");
	json_object_foreach(env, key, value)
	{
		job->env[n].name = key;
		job->env[n].value = json_is_boolean(value)
					? (json_is_true(value) ? "true" : "false")
					: scalar_string(job, value);
		if (!job->env[n++].value)
			return module_fail(m, "environment: the value of %.64s must be a string",
					   key);
	}
	job->unit.env = job->env;
	job->unit.env_count = n;
	return 0;
}

/* name, unit_dir, timeout: all a state needs, absent included. */
static int read_names(struct module *m, struct timer_job *job)
{
	const char *name = module_str(m, "name"), *dir = module_str(m, "unit_dir");
	long long timeout = module_int(m, "timeout");
	struct error err;

	job->unit.name = name;
	if (units_check_name(name, &err) < 0)
		return module_fail(m, "name: %s", err.msg);
	if (!dir || dir[0] != '/')
		return module_fail(m, "unit_dir: '%s' must be an absolute path", dir ? dir : "");
	if (timeout < 1 || timeout > 7 * 86400)
		return module_fail(m, "timeout: %lld must be 1..604800 seconds", timeout);
	job->timeout_usec = (uint64_t)timeout * SDBUS_USEC_PER_SEC;
	job->strings = json_array();
	if (!job->strings || asprintf(&job->service_name, "%s.service", name) < 0 ||
	    asprintf(&job->timer_name, "%s.timer", name) < 0 ||
	    asprintf(&job->service_path, "%s/%s", dir, job->service_name) < 0 ||
	    asprintf(&job->timer_path, "%s/%s", dir, job->timer_name) < 0)
		return module_fail(m, "out of memory");
	return 0;
}

/* Everything else, checked and rendered: nothing is written unless it all passes. */
static int read_unit(struct module *m, struct timer_job *job)
{
	struct timer_unit *u = &job->unit;
	long long nice = module_int(m, "nice");
	struct error err;

	if (read_exec(m, job) < 0 || read_calendar(m, job) < 0 || read_environment(m, job) < 0)
		return -1;
	u->description = module_str(m, "description");
	u->user = module_str(m, "user");
	u->group = module_str(m, "group");
	u->working_directory = module_str(m, "working_directory");
	u->log_file = module_str(m, "log_file");
	u->on_boot_sec = module_str(m, "on_boot_sec");
	u->on_unit_active_sec = module_str(m, "on_unit_active_sec");
	u->randomized_delay_sec = module_str(m, "randomized_delay_sec");
	u->accuracy_sec = module_str(m, "accuracy_sec");
	u->timeout_start_sec = module_str(m, "timeout_start_sec");
	u->io_scheduling_class = module_str(m, "io_scheduling_class");
	u->memory_max = module_str(m, "memory_max");
	u->persistent = module_bool(m, "persistent");
	u->has_nice = module_has(m, "nice");
	if (nice < -20 || nice > 19)
		return module_fail(m, "nice: %lld is outside -20..19", nice);
	u->nice = (int)nice;
	if (units_check(u, &err) < 0 || units_render_service(u, &job->service_text, &err) < 0 ||
	    units_render_timer(u, &job->timer_text, &err) < 0)
		return module_fail(m, "%s", err.msg);
	return 0;
}

/* ---- what is there now -------------------------------------------------------------------- */

/* The file's text, or NULL if it (or its directory) does not exist. */
static int read_unit_file(struct module *m, const char *path, char **text)
{
	struct error err;
	size_t len;
	int rc = fs_read_file(path, UNIT_FILE_MAX, text, &len, &err);

	if (rc == -ENOENT || rc == -ENOTDIR)
		return 0;
	return rc < 0 ? module_fail(m, "cannot read %s", err.msg) : 0;
}

/* Check mode only needs the files to predict; a real run needs systemd. */
static int connect_bus(struct module *m, struct timer_job *job, bool needed)
{
	struct error err;

	if (sdbus_open(&job->bus, &err) == 0)
		return 0;
	if (!needed || m->check_mode) {
		module_warn(m, "the result covers the unit files only: %s", err.msg);
		return 0;
	}
	return module_fail(m, "%s", err.msg);
}

static int read_state(struct module *m, struct timer_job *job)
{
	bool service_reload = false, timer_reload = false;
	struct error err;

	if (!job->bus)
		return 0;
	if (sdbus_get_string(job->bus, job->timer_name, SDBUS_UNIT, "ActiveState",
			     &job->timer_active, &err) < 0 ||
	    sdbus_get_string(job->bus, job->timer_name, SDBUS_UNIT, "UnitFileState",
			     &job->timer_file_state, &err) < 0 ||
	    sdbus_get_string(job->bus, job->service_name, SDBUS_UNIT, "ActiveState",
			     &job->service_active, &err) < 0 ||
	    sdbus_get_bool(job->bus, job->service_name, SDBUS_UNIT, "NeedDaemonReload",
			   &service_reload, &err) < 0 ||
	    sdbus_get_bool(job->bus, job->timer_name, SDBUS_UNIT, "NeedDaemonReload", &timer_reload,
			   &err) < 0)
		return module_fail(m, "%s", err.msg);
	job->need_reload = service_reload || timer_reload;
	return 0;
}

static bool is_active(const char *state)
{
	return state && (strcmp(state, "active") == 0 || strcmp(state, "activating") == 0 ||
			 strcmp(state, "reloading") == 0);
}

static bool is_enabled(const char *file_state)
{
	return file_state && strcmp(file_state, "enabled") == 0;
}

static bool differs(const char *old, const char *wanted)
{
	return !old || strcmp(old, wanted) != 0;
}

/* ---- deciding ----------------------------------------------------------------------------- */

static struct plan plan_present(const struct module *m, const struct timer_job *job)
{
	bool enabled = module_bool(m, "enabled"), active = is_active(job->timer_active);
	struct plan p = {0};

	p.write_service = differs(job->service_old, job->service_text);
	p.write_timer = differs(job->timer_old, job->timer_text);
	p.reload = p.write_service || p.write_timer || job->need_reload;
	p.run = module_bool(m, "run_now");
	if (!job->bus)
		return p;
	if (enabled) {
		p.enable = !is_enabled(job->timer_file_state);
		p.start = !active;
		/* A service change applies at the next run; a timing change needs the timer
		 * re-armed. */
		p.restart = active && p.write_timer;
	} else {
		p.stop_timer = active;
		p.disable = is_enabled(job->timer_file_state);
	}
	return p;
}

static struct plan plan_absent(const struct timer_job *job)
{
	struct plan p = {0};

	p.remove = job->service_old || job->timer_old;
	p.stop_timer = is_active(job->timer_active);
	p.stop_service = is_active(job->service_active);
	p.disable = is_enabled(job->timer_file_state);
	p.reload = p.remove || p.disable;
	return p;
}

static bool plan_changes(const struct plan *p)
{
	return p->write_service || p->write_timer || p->reload || p->enable || p->disable ||
	       p->start || p->restart || p->stop_timer || p->stop_service || p->remove || p->run;
}

/* ---- acting ------------------------------------------------------------------------------- */

typedef int (*unit_job_fn)(struct sdbus *, const char *, uint64_t, char **, struct error *);

/* One start/stop/restart job that must end "done". */
static int run_unit_job(struct module *m, struct timer_job *job, unit_job_fn fn, const char *verb,
			const char *unit)
{
	struct error err;
	char *result = NULL;
	int rc = fn(job->bus, unit, job->timeout_usec, &result, &err);

	if (rc < 0)
		return module_fail(m, "%s", err.msg);
	if (strcmp(result, "done") != 0)
		rc =
		    module_fail(m, "%s %s: the job ended '%s'; read `journalctl -u %s` on the host",
				verb, unit, result, unit);
	free(result);
	return rc;
}

static int write_unit(struct module *m, const char *path, const char *text)
{
	struct error err;

	if (fs_write_atomic(path, text, strlen(text), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err) < 0)
		return module_fail(m, "cannot write %s", err.msg);
	return 0;
}

/* run_now: start the service, wait for it, and say plainly when the command failed. */
static int run_service(struct module *m, struct timer_job *job)
{
	char *result = NULL, *service_result = NULL;
	int32_t status = 0;
	struct error err;
	int rc;

	rc = sdbus_start_unit(job->bus, job->service_name, job->timeout_usec, &result, &err);
	if (rc < 0) {
		module_fail(m, "run_now: %s", err.msg);
		goto out;
	}
	rc = sdbus_get_string(job->bus, job->service_name, SDBUS_SERVICE, "Result", &service_result,
			      &err);
	if (rc == 0)
		rc = sdbus_get_i32(job->bus, job->service_name, SDBUS_SERVICE, "ExecMainStatus",
				   &status, &err);
	if (rc < 0) {
		module_fail(m, "run_now: %s", err.msg);
		goto out;
	}
	module_set_int(m, "exit_status", status);
	module_set_str(m, "last_result", service_result);
	if (strcmp(result, "done") != 0 || strcmp(service_result, "success") != 0)
		rc = module_fail(m,
				 "run_now: %s failed (job %s, result %s, exit status %d); read "
				 "`journalctl -u %s` on the host",
				 job->service_name, result, service_result, status,
				 job->service_name);
out:
	free(service_result);
	free(result);
	return rc;
}

static int write_files(struct module *m, struct timer_job *job, const struct plan *p)
{
	struct error err;

	if ((p->write_service || p->write_timer) &&
	    fs_mkdir_p(module_str(m, "unit_dir"), 0755, &err) < 0)
		return module_fail(m, "unit_dir: %s", err.msg);
	if (p->write_service && write_unit(m, job->service_path, job->service_text) < 0)
		return -1;
	if (p->write_timer && write_unit(m, job->timer_path, job->timer_text) < 0)
		return -1;
	return 0;
}

/* Enable/disable, then one daemon-reload for everything: enabling only makes symlinks, and
 * systemd sees them (and new unit files) after a reload, as with systemctl. */
static int enable_and_reload(struct module *m, struct timer_job *job, const struct plan *p)
{
	const char *files[] = {job->timer_name};
	struct error err;
	int rc = 0;

	if (p->enable)
		rc = sdbus_enable_unit_files(job->bus, files, 1, &err);
	if (rc >= 0 && p->disable)
		rc = sdbus_disable_unit_files(job->bus, files, 1, &err);
	if (rc >= 0 && (p->reload || p->enable || p->disable))
		rc = sdbus_reload(job->bus, &err);
	return rc < 0 ? module_fail(m, "%s", err.msg) : 0;
}

/* The topmost directory of dir that does not exist yet (what fs_mkdir_p will create), or NULL. */
static char *first_missing_dir(const char *dir)
{
	char *missing = NULL, *up = strdup(dir), *slash;

	while (up && up[0] && !fs_exists(up)) {
		free(missing);
		missing = strdup(up);
		slash = strrchr(up, '/');
		if (!slash || slash == up)
			break;
		*slash = '\0';
	}
	free(up);
	return missing;
}

/* Puts back the unit file at path as it was (old text, or no file), ignoring errors. */
static void restore_file(const char *path, const char *old)
{
	struct error err;

	if (old)
		fs_write_atomic(path, old, strlen(old), 0644, FS_KEEP_OWNER, FS_KEEP_GROUP, &err);
	else
		fs_remove(path, &err);
}

/*
 * A failed apply leaves nothing it made (issue #11): the timer it started is stopped, what it
 * enabled is disabled, files it created are removed and files it replaced are put back, the
 * directories it created are removed (when empty), and systemd is reloaded. Best effort: the
 * failure already reported is the one that matters.
 */
static void roll_back(struct timer_job *job, const struct plan *p, const char *unit_dir,
		      const char *made_dir)
{
	const char *files[] = {job->timer_name};
	struct error err;
	char *result = NULL;

	if (job->bus && (p->start || p->restart)) {
		sdbus_stop_unit(job->bus, job->timer_name, job->timeout_usec, &result, &err);
		free(result);
	}
	if (job->bus && p->enable)
		sdbus_disable_unit_files(job->bus, files, 1, &err);
	if (p->write_service)
		restore_file(job->service_path, job->service_old);
	if (p->write_timer)
		restore_file(job->timer_path, job->timer_old);
	if (made_dir) {
		char *dir = strdup(unit_dir), *slash;

		/* from unit_dir up to the first directory this run made, each only when empty */
		while (dir && rmdir(dir) == 0 && strcmp(dir, made_dir) != 0 &&
		       (slash = strrchr(dir, '/')) && slash != dir)
			*slash = '\0';
		free(dir);
	}
	if (job->bus) {
		sdbus_reload(job->bus, &err);
		if (p->run) /* a failed run_now leaves its service "failed" in systemd's memory */
			sdbus_reset_failed_unit(job->bus, job->service_name, &err);
	}
}

static int apply_present(struct module *m, struct timer_job *job, const struct plan *p)
{
	const char *unit_dir = module_str(m, "unit_dir");
	char *made_dir = (p->write_service || p->write_timer) ? first_missing_dir(unit_dir) : NULL;
	int rc = 0;

	if ((p->stop_timer && run_unit_job(m, job, sdbus_stop_unit, "stop", job->timer_name) < 0) ||
	    write_files(m, job, p) < 0 || enable_and_reload(m, job, p) < 0 ||
	    (p->start && run_unit_job(m, job, sdbus_start_unit, "start", job->timer_name) < 0) ||
	    (p->restart &&
	     run_unit_job(m, job, sdbus_restart_unit, "restart", job->timer_name) < 0) ||
	    (p->run && run_service(m, job) < 0)) {
		roll_back(job, p, unit_dir, made_dir);
		module_set_changed(m, false);
		rc = -1;
	}
	free(made_dir);
	return rc;
}

static int remove_file(struct module *m, const char *path)
{
	struct error err;

	return fs_remove(path, &err) < 0 ? module_fail(m, "cannot remove %s", err.msg) : 0;
}

static int apply_absent(struct module *m, struct timer_job *job, const struct plan *p)
{
	const char *files[] = {job->timer_name};
	struct error err;

	if (p->remove && !job->bus)
		return module_fail(m, "cannot remove %s: systemd is not reachable to stop it first",
				   job->timer_name);
	if ((p->stop_timer && run_unit_job(m, job, sdbus_stop_unit, "stop", job->timer_name) < 0) ||
	    (p->stop_service &&
	     run_unit_job(m, job, sdbus_stop_unit, "stop", job->service_name) < 0))
		return -1;
	/* A Persistent= timer keeps a stamp of its last run: a timer made again under this name
	 * would count as having fired already. Not every timer has one, hence no error check. */
	if (job->timer_old)
		sdbus_clean_unit(job->bus, job->timer_name, (const char *const[]){"state"}, 1,
				 &err);
	/* Disable while the file is still there: systemd finds the symlinks from its [Install]. */
	if (p->disable && sdbus_disable_unit_files(job->bus, files, 1, &err) < 0)
		return module_fail(m, "%s", err.msg);
	if (remove_file(m, job->timer_path) < 0 || remove_file(m, job->service_path) < 0)
		return -1;
	if (p->reload && sdbus_reload(job->bus, &err) < 0)
		return module_fail(m, "%s", err.msg);
	/* A unit that failed stays listed as failed after its files are gone; forget it. */
	if (job->bus && plan_changes(p)) {
		sdbus_reset_failed_unit(job->bus, job->service_name, &err);
		sdbus_reset_failed_unit(job->bus, job->timer_name, &err);
	}
	return 0;
}

/* ---- reporting ---------------------------------------------------------------------------- */

/* µs since the epoch as ISO 8601 UTC via module_set_time; 0 and "infinity" mean none. */
static void set_usec_time(struct module *m, const char *key, uint64_t usec)
{
	module_set_time(m, key, usec == UINT64_MAX ? 0 : (long long)(usec / SDBUS_USEC_PER_SEC));
}

/* NextElapseUSecMonotonic counts on CLOCK_MONOTONIC (src/core/dbus-timer.c): shift it to wall
 * time and take the earlier of the two, as `systemctl list-timers` does (calc_next_elapse). */
static uint64_t next_elapse(uint64_t realtime, uint64_t monotonic)
{
	struct timespec mono, real;
	uint64_t now_mono, now_real, converted;

	if (monotonic == 0 || monotonic == UINT64_MAX)
		return realtime;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	clock_gettime(CLOCK_REALTIME, &real);
	now_mono = (uint64_t)mono.tv_sec * SDBUS_USEC_PER_SEC + (uint64_t)mono.tv_nsec / 1000;
	now_real = (uint64_t)real.tv_sec * SDBUS_USEC_PER_SEC + (uint64_t)real.tv_nsec / 1000;
	converted = now_real + (monotonic > now_mono ? monotonic - now_mono : 0);
	return (realtime && realtime != UINT64_MAX && realtime < converted) ? realtime : converted;
}

static void report_bus_state(struct module *m, struct timer_job *job)
{
	uint64_t real = 0, mono = 0, last = 0, started = 0;
	char *active = NULL, *file_state = NULL, *result = NULL;
	struct error err;

	if (sdbus_get_string(job->bus, job->timer_name, SDBUS_UNIT, "ActiveState", &active, &err) <
		0 ||
	    sdbus_get_string(job->bus, job->timer_name, SDBUS_UNIT, "UnitFileState", &file_state,
			     &err) < 0 ||
	    sdbus_get_string(job->bus, job->service_name, SDBUS_SERVICE, "Result", &result, &err) <
		0 ||
	    sdbus_get_u64(job->bus, job->service_name, SDBUS_SERVICE, "ExecMainStartTimestamp",
			  &started, &err) < 0 ||
	    (strcmp(active, "active") == 0 &&
	     (sdbus_get_u64(job->bus, job->timer_name, SDBUS_TIMER, "NextElapseUSecRealtime", &real,
			    &err) < 0 ||
	      sdbus_get_u64(job->bus, job->timer_name, SDBUS_TIMER, "NextElapseUSecMonotonic",
			    &mono, &err) < 0 ||
	      sdbus_get_u64(job->bus, job->timer_name, SDBUS_TIMER, "LastTriggerUSec", &last,
			    &err) < 0)))
		module_warn(m, "cannot read the timer's state: %s", err.msg);
	module_set_str(m, "active_state", active);
	module_set_bool(m, "enabled", is_enabled(file_state));
	set_usec_time(m, "next_elapse", next_elapse(real, mono));
	set_usec_time(m, "last_trigger", last);
	/* Result is "success" before the first run too: only report it once the service ran. */
	module_set_str(m, "last_result", started ? result : NULL);
	free(active);
	free(file_state);
	free(result);
}

static void report(struct module *m, struct timer_job *job)
{
	module_set_str(m, "name", job->unit.name);
	module_set_str(m, "service_unit", job->service_name);
	module_set_str(m, "timer_unit", job->timer_name);
	module_set_str(m, "unit_dir", module_str(m, "unit_dir"));
	if (m->failed) /* rolled back: what the failure said (run_now's result) is the report */
		return;
	if (job->bus && !m->check_mode) {
		report_bus_state(m, job);
		return;
	}
	/* Check mode: what is there now, without the changes we would make. */
	module_set_str(m, "active_state", job->timer_active);
	module_set(m, "enabled",
		   job->bus ? json_boolean(is_enabled(job->timer_file_state)) : json_null());
	module_set(m, "next_elapse", json_null());
	module_set(m, "last_trigger", json_null());
	module_set(m, "last_result", json_null());
}

/* ---- main --------------------------------------------------------------------------------- */

static void job_free(struct timer_job *job)
{
	sdbus_free(job->bus);
	json_decref(job->strings);
	free(job->exec);
	free(job->calendar);
	free(job->env);
	free(job->service_name);
	free(job->timer_name);
	free(job->service_path);
	free(job->timer_path);
	free(job->service_text);
	free(job->timer_text);
	free(job->service_old);
	free(job->timer_old);
	free(job->timer_active);
	free(job->timer_file_state);
	free(job->service_active);
}

static void add_diffs(struct module *m, const struct timer_job *job, const struct plan *p)
{
	if (p->write_service)
		module_add_diff(m, job->service_path, job->service_old, job->service_text);
	if (p->write_timer)
		module_add_diff(m, job->timer_path, job->timer_old, job->timer_text);
	if (p->remove && job->service_old)
		module_add_diff(m, job->service_path, job->service_old, NULL);
	if (p->remove && job->timer_old)
		module_add_diff(m, job->timer_path, job->timer_old, NULL);
}

/* Both states: read what is there, plan, show the diff, apply unless in check mode. */
static int converge(struct module *m, bool present)
{
	struct timer_job job = {0};
	struct plan plan;
	int rc;

	rc = read_names(m, &job);
	if (rc == 0 && present)
		rc = read_unit(m, &job);
	if (rc == 0)
		rc = read_unit_file(m, job.service_path, &job.service_old);
	if (rc == 0)
		rc = read_unit_file(m, job.timer_path, &job.timer_old);
	if (rc == 0)
		rc = connect_bus(m, &job, present || job.service_old || job.timer_old);
	if (rc == 0)
		rc = read_state(m, &job);
	if (rc != 0)
		goto out;
	plan = present ? plan_present(m, &job) : plan_absent(&job);
	module_set_changed(m, plan_changes(&plan));
	add_diffs(m, &job, &plan);
	if (!m->check_mode)
		rc = present ? apply_present(m, &job, &plan) : apply_absent(m, &job, &plan);
	report(m, &job);
out:
	job_free(&job);
	return rc;
}

static int run_present(struct module *m)
{
	return converge(m, true);
}

static int run_absent(struct module *m)
{
	return converge(m, false);
}

static const struct state_handler states[] = {
    {"present", run_present},
    {"absent", run_absent},
    {0},
};

static const struct module_spec spec = {
    .name = "systemd_timer",
    .options = options,
    .states = states,
    .items = true,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
