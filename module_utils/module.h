/*
 * module: the Ansible binary module protocol (docs/architecture.md, The binary module protocol;
 * docs/protocols.md, Ansible binary modules).
 *
 * A module declares its options once in a table and hands main() to module_main():
 *
 *     static const struct option_spec options[] = {
 *         { .name = "name", .type = OPT_STR, .required = true },
 *         { .name = "state", .type = OPT_STR, .def = "present", .choices = STATES },
 *         { 0 }
 *     };
 *     int main(int argc, char **argv) { return module_main(argc, argv, "x", options, run); }
 *
 * module_main loads argv[1] (the args file, or stdin when it is "-"), validates it against the
 * table (types are coerced as Ansible does; every violation names the option), calls run(), then
 * prints exactly one JSON object on stdout with `changed`, `failed`, `invocation` (no_log values
 * masked) and whatever run() set. Every string of the result is scrubbed of no_log values and of
 * secrets added with module_add_secret(), so a secret never reaches stdout even through an error
 * message, and the credentials of every URL in it are masked (url.h): the password of an option
 * declared `.url` is a secret, and any "scheme://user:password@" in any text loses its password.
 * Path options (OPT_PATH) with a ".." component are refused, naming the option: a path is
 * checked (inside a unit directory, beside a file) before it is used, and ".." would walk out.
 *
 * Memory: values returned by the getters are borrowed from the module and live until module_main
 * returns. module_set() steals the reference it is given.
 */
#ifndef ETCD_ANSIBLE_MODULE_H
#define ETCD_ANSIBLE_MODULE_H

#include "error.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Largest args file accepted: far above any real task, small enough to never hurt a node. */
#define MODULE_ARGS_MAX (4u * 1024u * 1024u)

enum opt_type {
	OPT_STR = 0, /* string; numbers and booleans are converted like Ansible does */
	OPT_INT,     /* integer, or a string holding one */
	OPT_BOOL,    /* true/false, yes/no, on/off, 1/0, as Ansible accepts */
	OPT_LIST,    /* list, or a comma-separated string */
	OPT_DICT,    /* object, or "k=v, k2=v2" */
	OPT_PATH,    /* string; a leading ~ is expanded to $HOME */
	OPT_RAW,     /* any JSON value, unchecked */
};

struct option_spec {
	const char *name;
	enum opt_type type;
	bool required;
	const char *def;	    /* default, written as a user would (coerced like input) */
	const char *const *choices; /* NULL-terminated allowed values (OPT_STR only) */
	bool no_log;		    /* value masked in every output */
	enum opt_type elements;	    /* for OPT_LIST: the type of each element (OPT_STR default) */
	const char *const *aliases; /* NULL-terminated other names accepted */
	bool url;		    /* holds URLs (any depth): their credentials are secrets */
};

/*
 * "state=X requires options [...]" as data (Ansible's required_if): when option `option` has the
 * value `value`, every option of `requires` must be set (any = false), or at least one (any =
 * true). The failure reads "NAME is required with state=X" (all) or "state=X needs A, B or C"
 * (any), followed by `why` when given; `msg` replaces the whole message when a module has its own.
 */
struct option_rule {
	const char *option;
	const char *value;
	const char *const *requires; /* NULL-terminated */
	bool any;
	const char *why; /* appended to the message, e.g. " (the new member's --name)" */
	const char *msg; /* the whole message instead, or NULL */
};

struct module;
typedef int (*module_run_fn)(struct module *m);

/* One state and the function that carries it out. */
struct state_handler {
	const char *state;
	module_run_fn run;
};

/*
 * A module in one place: its options, its required_if rules and its states. The choices of the
 * `state` option are the states of the table (in its order), validated like any choices. After
 * validation, `before` runs (may be NULL: secrets found inside options, common checks), then the
 * rules are checked, then the state's handler runs.
 */
struct module_spec {
	const char *name;
	const struct option_spec *options;
	const struct option_rule *rules;    /* {0}-terminated; may be NULL */
	const struct state_handler *states; /* {0}-terminated; NULL: a module without states */
	module_run_fn before;		    /* may be NULL */
	module_run_fn run;		    /* the module without states: its one job */
	bool items; /* takes `items`: one run per item in one exec (module_run_items) */
};

struct module {
	const char *name;
	const struct option_spec *options;
	const struct module_spec *spec; /* NULL for modules without a table (tests) */
	const char **state_choices;	/* the states of spec, NULL-terminated (malloc'ed) */
	json_t *params;	 /* validated options, defaults applied; absent optional options are null */
	json_t *result;	 /* what run() returns to Ansible */
	json_t *secrets; /* array of strings to scrub from every output */
	bool check_mode;
	bool diff_mode;
	bool no_log;
	int verbosity;
	bool failed;
	json_t *items_args; /* the whole args when they hold `items` (spec->items), else NULL */
	bool is_item;	    /* one item of module_run_items: `items` is an unknown option here */
};

/* Whole life of a module: load, validate, run, emit. Returns the process exit code. */
int module_main(int argc, char **argv, const char *name, const struct option_spec *options,
		module_run_fn run);
/* The same for a module described by a spec: rules checked, state dispatched from the table. */
int module_main_spec(int argc, char **argv, const struct module_spec *spec);
/* module_init for a spec (tests). */
int module_init_spec(struct module *m, const struct module_spec *spec);
/* Runs `before` then the handler of the state option's value (what module_main_spec does). */
int module_dispatch(struct module *m);

/* `MODULE --describe-options` prints the option table as JSON instead of running: type, required,
 * default (coerced as an option value), choices, no_log, elements, aliases of each option, so a
 * test can check modules/NAME.yml against it (as ansible-test validate-modules does). */
#define MODULE_DESCRIBE_FLAG "--describe-options"
json_t *module_describe_options(const char *name, const struct option_spec *options); /* new ref */
/* The same for a module spec: the choices of `state` are its states. */
json_t *module_describe_spec(const struct module_spec *spec); /* new ref */

/* The pieces module_main is made of (used by tests and the fuzz target). */
int module_init(struct module *m, const char *name, const struct option_spec *options);
int module_load_file(struct module *m, const char *path);
int module_load_stdin(struct module *m); /* the same JSON, read from fd 0 (argv[1] == "-") */
int module_load_json(struct module *m, const char *text, size_t len);
char *module_result_dump(struct module *m); /* caller frees; scrubbed */
/* Validates an args object into m->params and sets the invocation (what module_load_json does
 * after parsing). */
int module_load_object(struct module *m, const json_t *args);
/* `changed` and `failed` set, every string scrubbed: the result as module_result_dump prints it. */
void module_finish_result(struct module *m);
/* A copy of args for showing: _ansible_* keys left out, no_log options (all with no_log) masked. */
json_t *module_masked_args(const struct module *m, const json_t *args); /* new ref */

void module_free(struct module *m);

/* Getters: options are already validated, so these never fail. NULL/0/false when unset. */
const char *module_str(const struct module *m, const char *option);
long long module_int(const struct module *m, const char *option);
bool module_bool(const struct module *m, const char *option);
json_t *module_get(const struct module *m, const char *option); /* borrowed */
bool module_has(const struct module *m, const char *option);	/* set and not null */
size_t module_list_size(const struct module *m, const char *option);
const char *module_list_str(const struct module *m, const char *option, size_t index);
/* A list option joined with commas, as command-line flags take it (caller frees; NULL: ENOMEM). */
char *module_list_joined(const struct module *m, const char *option);
/* A list option as a new NULL-terminated array of borrowed strings (caller frees the array). */
const char **module_list_strv(const struct module *m, const char *option, size_t *n);
/*
 * A file mode as Ansible takes it: an octal string ("0600") or a number YAML already read as
 * octal; def when unset. Fails the module (returns -1) naming the option otherwise.
 */
int module_mode(struct module *m, const char *option, mode_t def, mode_t *mode);
/* The same for a value found elsewhere (a field of a list entry); `what` names it in the error. */
int module_mode_value(struct module *m, const char *what, const json_t *v, mode_t def,
		      mode_t *mode);
/* A number of milliseconds >= 0 from a string option (a float: "0.001" is fine); fails the
 * module (returns -1) naming the option otherwise. */
int module_ms(struct module *m, const char *option, double *out);
/* Each of urls is an http:// or https:// URL (https:// only with https_only); fails the module
 * (returns -1) naming the option and the URL otherwise. */
int module_check_urls(struct module *m, const char *option, const char *const *urls, size_t n,
		      bool https_only);

/* Makes path hold exactly text with mode, owned by the running user: written atomically (mode
 * from the first byte) when the content, mode or owner differ; in check mode only said. The diff
 * (diff mode) shows text: never pass a secret. 1 when it differed, 0 when not, -1 failed (the
 * message names option). */
int module_ensure_file(struct module *m, const char *option, const char *path, const char *text,
		       mode_t mode);
/* Results. module_fail() returns -1 so run() can `return module_fail(m, ...)`. */
int module_fail(struct module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void module_warn(struct module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* module_warn with a va_list (for callbacks that take a format). */
void module_vwarn(struct module *m, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
void module_set(struct module *m, const char *key, json_t *value); /* steals value */
void module_set_str(struct module *m, const char *key, const char *value);
void module_set_int(struct module *m, const char *key, long long value);
void module_set_bool(struct module *m, const char *key, bool value);
void module_set_changed(struct module *m, bool changed);
/* result.msg from a format (at most 1023 bytes). */
void module_set_msg(struct module *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A point in time as ISO 8601 UTC ("2026-11-25T15:04:05Z"); seconds <= 0 sets null. */
void module_set_time(struct module *m, const char *key, long long seconds);
/* The same text into buf (at least 21 bytes); returns buf, or "" for seconds <= 0. */
char *module_format_time(long long seconds, char *buf, size_t size);
bool module_changed(const struct module *m);
/* Adds one {before, after, before_header, after_header} entry to result.diff (diff mode only). */
void module_add_diff(struct module *m, const char *header, const char *before, const char *after);
/* A progress line on stderr ("NAME: text"), scrubbed like the result; stdout stays the JSON. */
void module_note(const struct module *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/*
 * One step of a retry loop: notes on stderr what is awaited and why (never stdout), sleeps
 * pause_ms, and returns the next pause (doubled, at most max_ms).
 */
long module_backoff(const struct module *m, const char *what, const struct error *err,
		    long pause_ms, long max_ms);
/* A value derived from a secret (a decrypted key, a token) that must never be printed. */
void module_add_secret(struct module *m, const char *secret);

/* Registers the credential of every URL in text (raw and percent-decoded) as a secret (url.h). */
void module_add_url_secrets(struct module *m, const char *text);

/* Replaces every secret and URL credential in text; returns a new string (caller frees) or NULL
 * on ENOMEM. */
char *module_scrub(const struct module *m, const char *text);

#endif
