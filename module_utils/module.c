#include "module.h"
#include "module_items.h"

#include "clock.h"
#include "fs.h"
#include "url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Ansible's own placeholder in invocation.module_args, so users recognise it. */
#define NO_LOG_PLACEHOLDER "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"
#define SCRUBBED "********"

/* ---- option table lookups ------------------------------------------------------------------ */

static const struct option_spec *option_find(const struct option_spec *options, const char *key)
{
	for (const struct option_spec *o = options; o->name; o++) {
		if (strcmp(o->name, key) == 0)
			return o;
		for (const char *const *a = o->aliases; a && *a; a++)
			if (strcmp(*a, key) == 0)
				return o;
	}
	return NULL;
}

static const char *type_name(const json_t *v)
{
	if (!v)
		return "null";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "dict";
	case JSON_ARRAY:
		return "list";
	case JSON_STRING:
		return "str";
	case JSON_INTEGER:
		return "int";
	case JSON_REAL:
		return "float";
	case JSON_TRUE:
	case JSON_FALSE:
		return "bool";
	default:
		return "null";
	}
}

/* ---- coercion, as Ansible's check_type_* functions do it --------------------------------------
 */

static json_t *coerce(struct module *m, const char *name, enum opt_type type,
		      enum opt_type elements, const json_t *v);

static json_t *coerce_str(struct module *m, const char *name, const json_t *v)
{
	char buf[64];

	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_incref((json_t *)v);
	case JSON_INTEGER:
		snprintf(buf, sizeof(buf), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return json_string(buf);
	case JSON_REAL:
		snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
		return json_string(buf);
	case JSON_TRUE:
		return json_string("True");
	case JSON_FALSE:
		return json_string("False");
	default:
		module_fail(m, "argument '%s' is of type %s and we were unable to convert to str",
			    name, type_name(v));
		return NULL;
	}
}

static bool parse_int(const char *s, long long *out)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	errno = 0;
	*out = strtoll(s, &end, 10);
	while (isspace((unsigned char)*end))
		end++;
	return errno == 0 && *end == '\0';
}

static json_t *coerce_int(struct module *m, const char *name, const json_t *v)
{
	long long n;
	double d;

	if (json_is_integer(v))
		return json_incref((json_t *)v);
	if (json_is_real(v)) {
		d = json_real_value(v);
		if (d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d)
			return json_integer((long long)d);
	} else if (json_is_string(v) && parse_int(json_string_value(v), &n)) {
		return json_integer(n);
	}
	module_fail(m, "argument '%s' is of type %s and we were unable to convert to int", name,
		    type_name(v));
	return NULL;
}

static int bool_from_string(const char *s)
{
	static const char *const truthy[] = {"yes", "on", "1", "true", "y", "t", NULL};
	static const char *const falsy[] = {"no", "off", "0", "false", "n", "f", "", NULL};

	for (const char *const *t = truthy; *t; t++)
		if (strcasecmp(s, *t) == 0)
			return 1;
	for (const char *const *f = falsy; *f; f++)
		if (strcasecmp(s, *f) == 0)
			return 0;
	return -1;
}

static json_t *coerce_bool(struct module *m, const char *name, const json_t *v)
{
	int b = -1;

	if (json_is_boolean(v))
		return json_incref((json_t *)v);
	if (json_is_string(v))
		b = bool_from_string(json_string_value(v));
	else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		b = (int)json_integer_value(v);
	if (b >= 0)
		return json_boolean(b);
	module_fail(m,
		    "argument '%s' is of type %s and we were unable to convert to bool: "
		    "use true/false, yes/no or 1/0",
		    name, type_name(v));
	return NULL;
}

/* Trimmed copy of [start, start+len); caller frees. */
static char *trimmed_dup(const char *start, size_t len)
{
	while (len && isspace((unsigned char)*start)) {
		start++;
		len--;
	}
	while (len && isspace((unsigned char)start[len - 1]))
		len--;
	return strndup(start, len);
}

/* Calls add(piece) for every comma-separated piece of s; returns false if add fails. */
static bool split_commas(const char *s, bool (*add)(void *ctx, char *piece), void *ctx)
{
	const char *p = s;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		char *piece = trimmed_dup(p, len);

		if (!piece || !add(ctx, piece))
			return false;
		if (!comma)
			return true;
		p = comma + 1;
	}
}

static bool add_list_piece(void *ctx, char *piece)
{
	int rc = *piece ? json_array_append_new(ctx, json_string(piece)) : 0;

	free(piece);
	return rc == 0;
}

static json_t *coerce_list(struct module *m, const char *name, enum opt_type elements,
			   const json_t *v)
{
	json_t *raw = NULL, *out = NULL, *item;
	size_t i;

	if (json_is_array(v)) {
		raw = json_incref((json_t *)v);
	} else if (json_is_string(v)) {
		raw = json_array();
		if (!raw || !split_commas(json_string_value(v), add_list_piece, raw))
			goto fail;
	} else if (json_is_number(v)) {
		raw = json_pack("[O]", v);
	} else {
		module_fail(m, "argument '%s' is of type %s and we were unable to convert to list",
			    name, type_name(v));
		goto fail;
	}
	out = json_array();
	if (!raw || !out)
		goto fail;
	json_array_foreach(raw, i, item)
	{
		json_t *c = coerce(m, name, elements, OPT_STR, item);

		if (!c || json_array_append_new(out, c) != 0)
			goto fail;
	}
	json_decref(raw);
	return out;
fail:
	if (!m->failed)
		module_fail(m, "out of memory while reading argument '%s'", name);
	json_decref(raw);
	json_decref(out);
	return NULL;
}

static bool add_dict_piece(void *ctx, char *piece)
{
	char *eq = strchr(piece, '=');
	int rc = -1;

	if (eq && eq != piece) {
		*eq = '\0';
		rc = json_object_set_new(ctx, piece, json_string(eq + 1));
	} else if (!*piece) {
		rc = 0;
	}
	free(piece);
	return rc == 0;
}

static json_t *coerce_dict(struct module *m, const char *name, const json_t *v)
{
	json_t *out;

	if (json_is_object(v))
		return json_incref((json_t *)v);
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		out = (*s == '{') ? json_loads(s, 0, NULL) : json_object();
		if (out && *s != '{' && !split_commas(s, add_dict_piece, out)) {
			json_decref(out);
			out = NULL;
		}
		if (json_is_object(out))
			return out;
		json_decref(out);
	}
	module_fail(m,
		    "argument '%s' is of type %s and we were unable to convert to dict "
		    "(use a mapping or \"key=value, key2=value2\")",
		    name, type_name(v));
	return NULL;
}

/* True when a component of path is "..". */
static bool has_dotdot(const char *path)
{
	for (const char *p = path; (p = strstr(p, "..")); p += 2)
		if ((p == path || p[-1] == '/') && (p[2] == '\0' || p[2] == '/'))
			return true;
	return false;
}

static json_t *coerce_path(struct module *m, const char *name, const json_t *v)
{
	json_t *s = coerce_str(m, name, v);
	const char *p = s ? json_string_value(s) : NULL;
	const char *home = getenv("HOME");
	char *expanded;
	json_t *out;

	/* Checks on a path (inside a directory, beside a file) only hold if it cannot walk out. */
	if (p && has_dotdot(p)) {
		module_fail(m,
			    "argument '%s': '..' is not allowed in a path, got '%s'; give the path "
			    "without it",
			    name, p);
		json_decref(s);
		return NULL;
	}
	if (!p || p[0] != '~' || (p[1] != '\0' && p[1] != '/') || !home)
		return s;
	if (asprintf(&expanded, "%s%s", home, p + 1) < 0) {
		json_decref(s);
		module_fail(m, "out of memory while reading argument '%s'", name);
		return NULL;
	}
	out = json_string(expanded);
	free(expanded);
	json_decref(s);
	return out;
}

static json_t *coerce(struct module *m, const char *name, enum opt_type type,
		      enum opt_type elements, const json_t *v)
{
	switch (type) {
	case OPT_STR:
		return coerce_str(m, name, v);
	case OPT_INT:
		return coerce_int(m, name, v);
	case OPT_BOOL:
		return coerce_bool(m, name, v);
	case OPT_LIST:
		return coerce_list(m, name, elements, v);
	case OPT_DICT:
		return coerce_dict(m, name, v);
	case OPT_PATH:
		return coerce_path(m, name, v);
	case OPT_RAW:
		return json_incref((json_t *)v);
	}
	return NULL;
}

/* ---- validation --------------------------------------------------------------------------- */

static bool in_choices(const char *const *choices, const char *value)
{
	for (const char *const *c = choices; *c; c++)
		if (strcmp(*c, value) == 0)
			return true;
	return false;
}

static int check_choices(struct module *m, const struct option_spec *o, const json_t *value)
{
	char list[512] = "";
	size_t used = 0;

	const char *const *choices = o->choices;

	if (!choices && m->state_choices && strcmp(o->name, "state") == 0)
		choices = m->state_choices;
	if (!choices || !json_is_string(value) || in_choices(choices, json_string_value(value)))
		return 0;
	for (const char *const *c = choices; *c && used < sizeof(list); c++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "", *c);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (o->no_log)
		return module_fail(m, "value of %s must be one of: %s", o->name, list);
	return module_fail(m, "value of %s must be one of: %s, got: %s", o->name, list,
			   json_string_value(value));
}

/* Collects every string leaf of a no_log value as a secret. */
static void collect_secrets(struct module *m, const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		module_add_secret(m, json_string_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) collect_secrets(m, item);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item) collect_secrets(m, item);
	}
}

/* Registers the credential of every URL in the strings of v (any depth) as a secret. */
static void collect_url_secrets(struct module *m, const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		module_add_url_secrets(m, json_string_value(v));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) collect_url_secrets(m, item);
	} else if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, item) collect_url_secrets(m, item);
	}
}

static void read_ansible_key(struct module *m, const char *key, const json_t *v)
{
	int b = json_is_boolean(v)  ? json_is_true(v)
		: json_is_string(v) ? bool_from_string(json_string_value(v))
				    : -1;

	if (strcmp(key, "_ansible_check_mode") == 0)
		m->check_mode = b == 1;
	else if (strcmp(key, "_ansible_diff") == 0)
		m->diff_mode = b == 1;
	else if (strcmp(key, "_ansible_no_log") == 0)
		m->no_log = b == 1;
	else if (strcmp(key, "_ansible_verbosity") == 0 && json_is_integer(v))
		m->verbosity = (int)json_integer_value(v);
}

static int reject_unknown(struct module *m, const json_t *args)
{
	char unknown[512] = "", supported[1024] = "";
	size_t u = 0, s = 0;
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)args, key, v)
	{
		if (strncmp(key, "_ansible_", 9) == 0 || option_find(m->options, key))
			continue;
		if (u < sizeof(unknown)) {
			int n = snprintf(unknown + u, sizeof(unknown) - u, "%s%.64s", u ? ", " : "",
					 key);

			u += n > 0 ? (size_t)n : 0;
		}
	}
	if (!u)
		return 0;
	for (const struct option_spec *o = m->options; o->name && s < sizeof(supported); o++) {
		int n =
		    snprintf(supported + s, sizeof(supported) - s, "%s%s", s ? ", " : "", o->name);

		s += n > 0 ? (size_t)n : 0;
	}
	return module_fail(m,
			   "Unsupported parameters for (%s) module: %s. Supported parameters "
			   "include: %s.",
			   m->name, unknown, supported);
}

/* The user's value for o (by name or alias), or NULL. */
static json_t *given_value(const json_t *args, const struct option_spec *o)
{
	json_t *v = json_object_get(args, o->name);

	for (const char *const *a = o->aliases; !v && a && *a; a++)
		v = json_object_get(args, *a);
	return json_is_null(v) ? NULL : v;
}

static int validate_option(struct module *m, const struct option_spec *o, const json_t *args,
			   char *missing, size_t missing_size)
{
	json_t *given = given_value(args, o), *def = NULL, *value;

	if (!given && o->required) {
		size_t used = strlen(missing);

		snprintf(missing + used, missing_size - used, "%s%s", used ? ", " : "", o->name);
		return 0;
	}
	if (!given && o->def)
		given = def = json_string(o->def);
	value = given ? coerce(m, o->name, o->type, o->elements, given) : json_null();
	json_decref(def);
	if (!value)
		return -1;
	if (o->no_log)
		collect_secrets(m, value);
	if (o->url)
		collect_url_secrets(m, value);
	json_object_set_new(m->params, o->name, value);
	return check_choices(m, o, value);
}

/* "a, b or c" of a NULL-terminated list. */
static void join_or(const char *const *names, char *out, size_t size)
{
	size_t used = 0, n = 0;

	while (names[n])
		n++;
	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		int w = snprintf(out + used, size - used, "%s%s",
				 i == 0	      ? ""
				 : i + 1 == n ? " or "
					      : ", ",
				 names[i]);

		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* The required_if rules of the spec, in table order; the first broken one fails. */
static int check_rules(struct module *m)
{
	char list[256];

	for (const struct option_rule *r = m->spec ? m->spec->rules : NULL; r && r->option; r++) {
		const char *value = module_str(m, r->option);
		const char *missing = NULL;
		bool any_set = false;

		if (!value || strcmp(value, r->value) != 0)
			continue;
		for (const char *const *o = r->requires; *o; o++) {
			const json_t *v = module_get(m, *o);

			/* an empty list is no more given than a missing one */
			if (module_has(m, *o) && !(json_is_array(v) && json_array_size(v) == 0))
				any_set = true;
			else if (!missing)
				missing = *o;
		}
		if (r->any ? any_set : !missing)
			continue;
		if (r->msg)
			return module_fail(m, "%s", r->msg);
		if (!r->any)
			return module_fail(m, "%s is required with %s=%s%s", missing, r->option,
					   r->value, r->why ? r->why : "");
		join_or(r->requires, list, sizeof(list));
		return module_fail(m, "%s=%s needs %s%s", r->option, r->value, list,
				   r->why ? r->why : "");
	}
	return 0;
}

/* check mode, diff, no_log and verbosity from Ansible's _ansible_* keys. */
static void read_ansible_keys(struct module *m, const json_t *args)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)args, key, v) if (strncmp(key, "_ansible_", 9) == 0)
	    read_ansible_key(m, key, v);
}

static int validate(struct module *m, const json_t *args)
{
	char missing[512] = "";

	read_ansible_keys(m, args);
	/* Secrets first, so that any later message is scrubbed even if validation stops early. */
	for (const struct option_spec *o = m->options; o->name; o++) {
		if (o->no_log && given_value(args, o))
			collect_secrets(m, given_value(args, o));
		if (o->url && given_value(args, o))
			collect_url_secrets(m, given_value(args, o));
	}
	if (reject_unknown(m, args) < 0)
		return -1;
	for (const struct option_spec *o = m->options; o->name; o++)
		if (validate_option(m, o, args, missing, sizeof(missing)) < 0)
			return -1;
	if (missing[0])
		return module_fail(m, "missing required arguments: %s", missing);
	return 0;
}

/* ---- loading ------------------------------------------------------------------------------ */

int module_init(struct module *m, const char *name, const struct option_spec *options)
{
	memset(m, 0, sizeof(*m));
	m->name = name;
	m->options = options;
	m->params = json_object();
	m->result = json_object();
	m->secrets = json_array();
	return (m->params && m->result && m->secrets) ? 0 : -ENOMEM;
}

int module_init_spec(struct module *m, const struct module_spec *spec)
{
	size_t n = 0;

	if (module_init(m, spec->name, spec->options) < 0)
		return -ENOMEM;
	m->spec = spec;
	for (const struct state_handler *h = spec->states; h && h->state; h++)
		n++;
	if (!spec->states)
		return 0;
	m->state_choices = calloc(n + 1, sizeof(*m->state_choices));
	if (!m->state_choices)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		m->state_choices[i] = spec->states[i].state;
	return 0;
}

int module_dispatch(struct module *m)
{
	const char *state = module_str(m, "state");
	int rc;

	if (m->spec->before) {
		rc = m->spec->before(m);
		if (rc != 0 || m->failed)
			return rc;
	}
	if (check_rules(m) < 0)
		return -1;
	if (!m->spec->states)
		return m->spec->run ? m->spec->run(m) : 0;
	for (const struct state_handler *h = m->spec->states; h->state; h++)
		if (state && strcmp(state, h->state) == 0)
			return h->run(m);
	return module_fail(m, "state=%s has no handler (a bug: please report it)",
			   state ? state : "(none)");
}

json_t *module_masked_args(const struct module *m, const json_t *args)
{
	json_t *shown = json_object(), *v;
	const char *key;

	json_object_foreach((json_t *)args, key, v)
	{
		const struct option_spec *o = option_find(m->options, key);

		if (strncmp(key, "_ansible_", 9) == 0)
			continue;
		if (m->no_log || (o && o->no_log && !json_is_null(v)))
			json_object_set_new(shown, key, json_string(NO_LOG_PLACEHOLDER));
		else
			json_object_set(shown, key, v);
	}
	return shown;
}

static void set_invocation(struct module *m, const json_t *args)
{
	json_t *shown = module_masked_args(m, args ? args : m->params);

	json_object_set_new(m->result, "invocation", json_pack("{s:o}", "module_args", shown));
}

int module_load_object(struct module *m, const json_t *args)
{
	int rc = validate(m, args);

	set_invocation(m, rc < 0 ? args : NULL);
	return rc;
}

/* Args with `items` for a module that takes them: kept whole for module_run_items. */
static bool holds_items(struct module *m, json_t *args)
{
	if (!m->spec || !m->spec->items || m->is_item || !json_object_get(args, "items"))
		return false;
	read_ansible_keys(m, args);
	m->items_args = json_incref(args);
	return true;
}

int module_load_json(struct module *m, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *args;
	int rc;

	if (len == 0)
		return module_fail(m, "the args file is empty: expected a JSON object of options");
	args = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!args)
		return module_fail(m, "the args file is not valid JSON (line %d, column %d): %s",
				   jerr.line, jerr.column, jerr.text);
	if (!json_is_object(args)) {
		rc = module_fail(m, "the args file must hold a JSON object of options, not a %s",
				 type_name(args));
		json_decref(args);
		return rc;
	}
	rc = holds_items(m, args) ? 0 : module_load_object(m, args);
	json_decref(args);
	return rc;
}

int module_load_file(struct module *m, const char *path)
{
	struct error err;
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = fs_read_file(path, MODULE_ARGS_MAX, &text, &len, &err);
	if (rc < 0)
		return module_fail(m, "cannot read the args file: %s", err.msg);
	rc = module_load_json(m, text, len);
	free(text);
	return rc;
}

/* Reads fd to its end, at most max bytes; the caller frees *out (NUL-terminated). */
static int read_fd_bounded(int fd, size_t max, char **out, size_t *len)
{
	size_t used = 0, cap = 4096;
	char *buf = malloc(cap), *grown;
	int rc = 0;

	while (buf) {
		ssize_t n;

		if (used + 1 == cap) {
			if (cap > max) {
				rc = -EFBIG;
				goto out;
			}
			grown = realloc(buf, cap * 2);
			if (!grown)
				break;
			buf = grown;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0) {
			if (used > max) {
				rc = -EFBIG;
				goto out;
			}
			buf[used] = '\0';
			*out = buf;
			*len = used;
			return 0;
		}
		used += (size_t)n;
	}
	rc = -ENOMEM;
out:
	free(buf);
	return rc;
}

int module_load_stdin(struct module *m)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	rc = read_fd_bounded(STDIN_FILENO, MODULE_ARGS_MAX, &text, &len);
	if (rc == -EFBIG)
		return module_fail(m, "the args on stdin are larger than %u bytes",
				   MODULE_ARGS_MAX);
	if (rc < 0)
		return module_fail(m, "cannot read the args from stdin: %s", strerror(-rc));
	rc = module_load_json(m, text, len);
	free(text);
	return rc;
}

void module_free(struct module *m)
{
	json_decref(m->params);
	json_decref(m->result);
	json_decref(m->secrets);
	json_decref(m->items_args);
	free(m->state_choices);
	memset(m, 0, sizeof(*m));
}

/* ---- getters ------------------------------------------------------------------------------ */

json_t *module_get(const struct module *m, const char *option)
{
	return json_object_get(m->params, option);
}

bool module_has(const struct module *m, const char *option)
{
	json_t *v = module_get(m, option);

	return v && !json_is_null(v);
}

const char *module_str(const struct module *m, const char *option)
{
	return json_string_value(module_get(m, option));
}

long long module_int(const struct module *m, const char *option)
{
	return json_integer_value(module_get(m, option));
}

bool module_bool(const struct module *m, const char *option)
{
	return json_is_true(module_get(m, option));
}

size_t module_list_size(const struct module *m, const char *option)
{
	return json_array_size(module_get(m, option));
}

const char *module_list_str(const struct module *m, const char *option, size_t index)
{
	return json_string_value(json_array_get(module_get(m, option), index));
}

char *module_list_joined(const struct module *m, const char *option)
{
	size_t n = module_list_size(m, option), len = 1;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(module_list_str(m, option, i)) + 1;
	out = calloc(1, len);
	for (size_t i = 0; out && i < n; i++) {
		if (i)
			strcat(out, ",");
		strcat(out, module_list_str(m, option, i));
	}
	return out;
}

const char **module_list_strv(const struct module *m, const char *option, size_t *n)
{
	const char **out;

	*n = module_list_size(m, option);
	out = calloc(*n + 1, sizeof(*out));
	for (size_t i = 0; out && i < *n; i++)
		out[i] = module_list_str(m, option, i);
	return out;
}

int module_ms(struct module *m, const char *option, double *out)
{
	const char *text = module_str(m, option);
	char *end;

	errno = 0;
	*out = strtod(text, &end);
	if (errno || end == text || *end || !isfinite(*out) || *out < 0)
		return module_fail(m, "%s: '%s' is not a number of milliseconds >= 0", option,
				   text);
	return 0;
}

int module_check_urls(struct module *m, const char *option, const char *const *urls, size_t n,
		      bool https_only)
{
	for (size_t i = 0; i < n; i++) {
		bool https = strncmp(urls[i], "https://", 8) == 0;

		if (https_only && !https)
			return module_fail(m,
					   "%s: '%s' is not an https:// URL (the cluster's client "
					   "URLs use TLS)",
					   option, urls[i]);
		if (!https && strncmp(urls[i], "http://", 7) != 0)
			return module_fail(m, "%s: '%s' is not an http(s):// URL", option, urls[i]);
	}
	return 0;
}

int module_mode_value(struct module *m, const char *what, const json_t *v, mode_t def, mode_t *mode)
{
	const char *text = json_string_value(v);
	char *end = NULL;
	long value;

	if (!v || json_is_null(v)) {
		*mode = def;
		return 0;
	}
	if (json_is_integer(v))
		value = (long)json_integer_value(v);
	else if (text && *text && (value = strtol(text, &end, 8), *end == '\0'))
		;
	else
		return module_fail(m, "%s: '%s' is not an octal mode like 0600", what,
				   text ? text : "?");
	if (value < 0 || value > 07777)
		return module_fail(m, "%s: %lo is out of range", what, value);
	*mode = (mode_t)value;
	return 0;
}

int module_mode(struct module *m, const char *option, mode_t def, mode_t *mode)
{
	return module_mode_value(m, option, module_get(m, option), def, mode);
}

/* ---- results ------------------------------------------------------------------------------ */

int module_fail(struct module *m, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* The first failure is the cause; later ones are consequences. */
	if (!m->failed)
		json_object_set_new(m->result, "msg", json_string(msg));
	m->failed = true;
	return -1;
}

void module_warn(struct module *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	module_vwarn(m, fmt, ap);
	va_end(ap);
}

void module_vwarn(struct module *m, const char *fmt, va_list ap)
{
	json_t *warnings = json_object_get(m->result, "warnings");
	char msg[2048], *clean;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!warnings) {
		warnings = json_array();
		json_object_set_new(m->result, "warnings", warnings);
	}
	json_array_append_new(warnings, json_string(msg));
	clean = module_scrub(m, msg);
	fprintf(stderr, "%s: warning: %s\n", m->name, clean ? clean : SCRUBBED);
	free(clean);
}

void module_set(struct module *m, const char *key, json_t *value)
{
	json_object_set_new(m->result, key, value ? value : json_null());
}

void module_set_str(struct module *m, const char *key, const char *value)
{
	module_set(m, key, value ? json_string(value) : json_null());
}

void module_set_int(struct module *m, const char *key, long long value)
{
	module_set(m, key, json_integer(value));
}

void module_set_bool(struct module *m, const char *key, bool value)
{
	module_set(m, key, json_boolean(value));
}

void module_set_changed(struct module *m, bool changed)
{
	module_set_bool(m, "changed", changed);
}

char *module_format_time(long long seconds, char *buf, size_t size)
{
	time_t t = (time_t)seconds;
	struct tm tm;

	if (size)
		buf[0] = '\0';
	if (seconds > 0 && gmtime_r(&t, &tm))
		strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

void module_set_time(struct module *m, const char *key, long long seconds)
{
	char buf[32];

	module_format_time(seconds, buf, sizeof(buf));
	module_set(m, key, buf[0] ? json_string(buf) : json_null());
}

bool module_changed(const struct module *m)
{
	return json_is_true(json_object_get(m->result, "changed"));
}

void module_add_diff(struct module *m, const char *header, const char *before, const char *after)
{
	json_t *diff;

	if (!m->diff_mode)
		return;
	diff = json_object_get(m->result, "diff");
	if (!diff) {
		diff = json_array();
		json_object_set_new(m->result, "diff", diff);
	}
	json_array_append_new(diff, json_pack("{s:s, s:s, s:s, s:s}", "before",
					      before ? before : "", "after", after ? after : "",
					      "before_header", header, "after_header", header));
}

int module_ensure_file(struct module *m, const char *option, const char *path, const char *text,
		       mode_t mode)
{
	char *old = NULL;
	size_t len = 0;
	struct stat st;
	struct error err;
	bool same;
	int rc = fs_read_file(path, MODULE_ARGS_MAX, &old, &len, &err);

	if (rc < 0 && rc != -ENOENT)
		return module_fail(m, "%s: cannot read %s", option, err.msg);
	same = old && strcmp(old, text) == 0 && stat(path, &st) == 0 &&
	       (st.st_mode & 07777) == mode && st.st_uid == geteuid() && st.st_gid == getegid();
	if (!same) {
		module_add_diff(m, path, old ? old : "", text);
		if (!m->check_mode && fs_write_atomic(path, text, strlen(text), mode, FS_KEEP_OWNER,
						      FS_KEEP_GROUP, &err) < 0) {
			free(old);
			return module_fail(m, "%s: cannot write %s", option, err.msg);
		}
	}
	free(old);
	return same ? 0 : 1;
}

void module_add_secret(struct module *m, const char *secret)
{
	if (secret && *secret)
		json_array_append_new(m->secrets, json_string(secret));
}

void module_add_url_secrets(struct module *m, const char *text)
{
	size_t offset, len;

	for (const char *p = text; p && url_find_credential(p, &offset, &len); p += offset + len) {
		char *raw = strndup(p + offset, len),
		     *decoded = url_percent_decode(p + offset, len);

		module_add_secret(m, raw);
		if (raw && decoded && strcmp(raw, decoded) != 0)
			module_add_secret(m, decoded);
		free(raw);
		free(decoded);
	}
}

void module_note(const struct module *m, const char *fmt, ...)
{
	char msg[2048], *clean;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clean = module_scrub(m, msg);
	fprintf(stderr, "%s: %s\n", m->name, clean ? clean : SCRUBBED);
	free(clean);
}

void module_set_msg(struct module *m, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	module_set_str(m, "msg", msg);
}

long module_backoff(const struct module *m, const char *what, const struct error *err,
		    long pause_ms, long max_ms)
{
	module_note(m, "%s: %s; again in %ld ms", what, err->msg, pause_ms);
	sleep_ms(pause_ms);
	return pause_ms * 2 > max_ms ? max_ms : pause_ms * 2;
}

/* ---- scrubbing and output ----------------------------------------------------------------- */

static char *replace_all(const char *text, const char *needle, const char *with)
{
	size_t nlen = strlen(needle), wlen = strlen(with), count = 0, size;
	const char *p;
	char *out, *o;

	for (p = text; (p = strstr(p, needle)); p += nlen)
		count++;
	size = strlen(text) + count * wlen + 1;
	out = malloc(size);
	if (!out)
		return NULL;
	for (o = out, p = text;;) {
		const char *hit = strstr(p, needle);
		size_t keep = hit ? (size_t)(hit - p) : strlen(p);

		memcpy(o, p, keep);
		o += keep;
		if (!hit)
			break;
		memcpy(o, with, wlen);
		o += wlen;
		p = hit + nlen;
	}
	*o = '\0';
	return out;
}

char *module_scrub(const struct module *m, const char *text)
{
	char *out = strdup(text);
	size_t i;
	json_t *s;

	json_array_foreach(m->secrets, i, s)
	{
		char *next;

		if (!out || !strstr(out, json_string_value(s)))
			continue;
		next = replace_all(out, json_string_value(s), SCRUBBED);
		free(out);
		out = next;
	}
	/* Then any URL credential, whatever it came from (an answer, an environment variable). */
	if (out && strstr(out, "://")) {
		char *masked = url_mask(out);

		free(out);
		out = masked;
	}
	return out;
}

static json_t *scrubbed_string(const struct module *m, const char *text)
{
	char *clean = module_scrub(m, text);
	json_t *out = json_string(clean ? clean : SCRUBBED);

	free(clean);
	return out;
}

/* Renames keys holding a secret (user data such as a dict option can carry one in a key). */
static void scrub_keys(const struct module *m, json_t *obj)
{
	const char *key;
	json_t *item;
	void *tmp;

	json_object_foreach_safe(obj, tmp, key, item)
	{
		char *clean = module_scrub(m, key);

		if (clean && strcmp(clean, key) != 0) {
			json_object_set(obj, clean, item);
			json_object_del(obj, key);
		}
		free(clean);
	}
}

/* depth 0 is the result itself, whose keys are ours; deeper keys may come from the user. */
static void scrub_tree(const struct module *m, json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, item)
		{
			if (json_is_string(item))
				json_array_set_new(v, i,
						   scrubbed_string(m, json_string_value(item)));
			else
				scrub_tree(m, item, depth + 1);
		}
	} else if (json_is_object(v)) {
		if (depth > 0)
			scrub_keys(m, v);
		json_object_foreach(v, key, item)
		{
			if (json_is_string(item))
				json_object_set_new(v, key,
						    scrubbed_string(m, json_string_value(item)));
			else
				scrub_tree(m, item, depth + 1);
		}
	}
}

void module_finish_result(struct module *m)
{
	if (!json_object_get(m->result, "changed"))
		module_set_changed(m, false);
	module_set_bool(m, "failed", m->failed);
	/* On the tree, not the text: scrubbing JSON text could break its syntax. */
	scrub_tree(m, m->result, 0);
}

char *module_result_dump(struct module *m)
{
	char *text;

	module_finish_result(m);
	text = json_dumps(m->result, JSON_COMPACT);
	if (!text)
		return strdup("{\"failed\": true, \"changed\": false, \"msg\": \"out of memory\"}");
	return text;
}

/* ---- the option table as data ------------------------------------------------------------- */

static const char *const OPT_TYPE_NAMES[] = {
    [OPT_STR] = "str",	 [OPT_INT] = "int",   [OPT_BOOL] = "bool", [OPT_LIST] = "list",
    [OPT_DICT] = "dict", [OPT_PATH] = "path", [OPT_RAW] = "raw",
};

static json_t *string_array(const char *const *items)
{
	json_t *a = json_array();

	for (; a && items && *items; items++)
		json_array_append_new(a, json_string(*items));
	return a;
}

/* One option as the docs describe it; the default is coerced as a task's value would be. */
static json_t *describe_option(struct module *m, const struct option_spec *o)
{
	json_t *d = json_pack("{s:s, s:b, s:b}", "type", OPT_TYPE_NAMES[o->type], "required",
			      o->required, "no_log", o->no_log);

	if (!d)
		return NULL;
	if (o->type == OPT_LIST)
		json_object_set_new(d, "elements", json_string(OPT_TYPE_NAMES[o->elements]));
	if (o->choices)
		json_object_set_new(d, "choices", string_array(o->choices));
	else if (m->state_choices && strcmp(o->name, "state") == 0)
		json_object_set_new(d, "choices", string_array(m->state_choices));
	if (o->aliases)
		json_object_set_new(d, "aliases", string_array(o->aliases));
	if (o->def) {
		json_t *raw = json_string(o->def);
		json_t *value = raw ? coerce(m, o->name, o->type, o->elements, raw) : NULL;

		json_decref(raw);
		json_object_set_new(d, "default", value ? value : json_null());
	}
	return d;
}

static json_t *describe(const char *name, const struct option_spec *options,
			const struct module_spec *spec)
{
	struct module m;
	json_t *opts, *out = NULL;

	if ((spec ? module_init_spec(&m, spec) : module_init(&m, name, options)) < 0)
		goto out;
	opts = json_object();
	for (const struct option_spec *o = options; opts && o->name; o++)
		json_object_set_new(opts, o->name, describe_option(&m, o));
	if (opts && spec && spec->items)
		json_object_set_new(opts, "items",
				    json_pack("{s:s, s:b, s:b, s:s}", "type", "list", "required", 0,
					      "no_log", 0, "elements", "dict"));
	out = json_pack("{s:s, s:o}", "module", name, "options", opts);
out:
	module_free(&m);
	return out;
}

json_t *module_describe_options(const char *name, const struct option_spec *options)
{
	return describe(name, options, NULL);
}

json_t *module_describe_spec(const struct module_spec *spec)
{
	return describe(spec->name, spec->options, spec);
}

/* ---- main --------------------------------------------------------------------------------- */

static bool write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* MODULE_DESCRIBE_FLAG: the option table as JSON on stdout, for the docs test. */
static int describe_options(int fd, const char *name, const struct option_spec *options,
			    const struct module_spec *spec)
{
	json_t *d = spec ? module_describe_spec(spec) : module_describe_options(name, options);
	char *text = d ? json_dumps(d, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	int code = (text && write_all(fd, text, strlen(text)) && write_all(fd, "\n", 1)) ? 0 : 1;

	free(text);
	json_decref(d);
	return code;
}

/* "-": the args come on stdin (the action plugins run the cached binary in one exec). */
static int load_args(struct module *m, const char *arg)
{
	return strcmp(arg, "-") == 0 ? module_load_stdin(m) : module_load_file(m, arg);
}

static int run_module(int argc, char **argv, const char *name, const struct option_spec *options,
		      const struct module_spec *spec, module_run_fn run)
{
	struct module m;
	char *out;
	int result_fd, code;

	signal(SIGPIPE, SIG_IGN);
	/* Keep stdout for the one JSON result: anything a library prints goes to stderr instead. */
	result_fd = dup(STDOUT_FILENO);
	if (result_fd < 0 || dup2(STDERR_FILENO, STDOUT_FILENO) < 0)
		result_fd = STDOUT_FILENO;
	if (argc == 2 && strcmp(argv[1], MODULE_DESCRIBE_FLAG) == 0)
		return describe_options(result_fd, name, options, spec);
	if ((spec ? module_init_spec(&m, spec) : module_init(&m, name, options)) < 0)
		return 1;
	if (argc != 2)
		module_fail(
		    &m, "usage: %s ARGS_FILE|- (a JSON object of options, as Ansible passes it)",
		    name);
	else if (load_args(&m, argv[1]) == 0 &&
		 (m.items_args ? module_run_items(&m) : run(&m)) < 0 && !m.failed)
		module_fail(&m, "%s failed without a message (a bug: please report it)", name);
	out = module_result_dump(&m);
	code = m.failed ? 1 : 0;
	if (!out || !write_all(result_fd, out, strlen(out)) || !write_all(result_fd, "\n", 1))
		code = 1;
	free(out);
	module_free(&m);
	return code;
}

int module_main(int argc, char **argv, const char *name, const struct option_spec *options,
		module_run_fn run)
{
	return run_module(argc, argv, name, options, NULL, run);
}

int module_main_spec(int argc, char **argv, const struct module_spec *spec)
{
	return run_module(argc, argv, spec->name, spec->options, spec, module_dispatch);
}
