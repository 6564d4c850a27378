/*
 * units: the text of a oneshot .service + .timer pair, and the checks that keep it loadable.
 *
 * Everything here mirrors how systemd 252 reads unit files, so a unit we write is a unit systemd
 * accepts (sources: src/basic/time-util.c parse_time, src/shared/calendarspec.c,
 * src/core/load-fragment.c config_parse_exec/config_parse_environ, src/basic/unit-name.c).
 * Where systemd's grammar has corners nobody needs in a job timer (an "@epoch" calendar, time
 * zones other than UTC, "infinity" delays, "+5s"), we refuse them: what we accept systemd accepts,
 * never the reverse.
 *
 * Checks return 0 or -EINVAL and fill `err` with a message that quotes the bad value and says
 * what is expected; units_check() prefixes it with the option name. Renderers return malloc'ed
 * text through `out` (caller frees). Nothing here touches the disk or the bus.
 */
#ifndef ETCD_ANSIBLE_UNITS_H
#define ETCD_ANSIBLE_UNITS_H

#include "error.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* First line of every file we write, so an admin knows where edits will be lost. */
#define UNITS_HEADER "# Managed by etcd-ansible (systemd_timer): local changes are overwritten."

/* Longest NAME we accept: systemd's limit is 255 for NAME.service, leave room for suffixes. */
#define UNITS_NAME_MAX 200

struct unit_env {
	const char *name;
	const char *value;
};

/* A job timer as the systemd_timer module describes it. All strings are borrowed. */
struct timer_unit {
	const char *name;	 /* NAME: the pair is NAME.service + NAME.timer */
	const char *description; /* NULL: systemd shows the unit name */
	const char *const *exec; /* argv; exec[0] is an absolute path */
	size_t exec_count;
	const char *user; /* NULL: root (systemd's default) */
	const char *group;
	const char *working_directory;
	const char *log_file;	    /* stdout and stderr appended to it, or NULL for the journal */
	const struct unit_env *env; /* rendered sorted by name, so order never causes a change */
	size_t env_count;
	const char *const *on_calendar;
	size_t on_calendar_count;
	const char *on_boot_sec;
	const char *on_unit_active_sec;
	const char *randomized_delay_sec;
	const char *accuracy_sec;
	const char *timeout_start_sec; /* a time span or "infinity" */
	bool has_nice;
	int nice;
	const char *io_scheduling_class; /* none, realtime, best-effort, idle (or 0..3) */
	const char *memory_max;		 /* bytes with K/M/G/T (1024-based), N%, or infinity */
	bool persistent;
};

/* Checks every field; the message names the option (e.g. "on_calendar: ..."). */
int units_check(const struct timer_unit *u, struct error *err);

/* The .service / .timer text, deterministic for equal input. Call units_check() first. */
int units_render_service(const struct timer_unit *u, char **out, struct error *err);
int units_render_timer(const struct timer_unit *u, char **out, struct error *err);

/* NAME without suffix: [A-Za-z0-9:_.\-@]+, at most one '@' not first or last, <= UNITS_NAME_MAX. */
int units_check_name(const char *name, struct error *err);

/* A systemd time span ("30s", "1h 30min", "1.5d", "500ms") to microseconds. */
int units_parse_timespan(const char *text, uint64_t *usec, struct error *err);

/* A systemd calendar event ("daily", "Mon..Fri *-*-* 02:00:00", "*:0/15", "... UTC"). */
int units_check_calendar(const char *text, struct error *err);

/* An environment variable name: [A-Za-z_][A-Za-z0-9_]*. */
int units_check_env_name(const char *name, struct error *err);

/* One ExecStart= argument, quoted and escaped for systemd (caller frees; NULL on ENOMEM). */
char *units_quote_exec_arg(const char *arg);

/*
 * Splits a command line into words the way Ansible's command module does (shlex, no shell):
 * white space separates, '...' and "..." group, a backslash escapes the next character outside
 * single quotes. Appends the words to `words` (a JSON array). -EINVAL on an open quote.
 */
int units_split_command(const char *line, json_t *words, struct error *err);

/* One Environment= value: "NAME=value", quoted and escaped (caller frees; NULL on ENOMEM). */
char *units_quote_env(const char *name, const char *value);

#endif
