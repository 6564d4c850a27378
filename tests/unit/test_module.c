/* cmocka tests of the protocol layer: args loading, validation, coercion, masking, output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fs.h"
#include "module.h"
#include "module_items.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const STATES[] = {"present", "absent", NULL};
static const char *const NAME_ALIASES[] = {"unit", NULL};

static const struct option_spec OPTIONS[] = {
    {.name = "name", .type = OPT_STR, .required = true, .aliases = NAME_ALIASES},
    {.name = "state", .type = OPT_STR, .def = "present", .choices = STATES},
    {.name = "count", .type = OPT_INT, .def = "3"},
    {.name = "force", .type = OPT_BOOL, .def = "no"},
    {.name = "sans", .type = OPT_LIST},
    {.name = "ports", .type = OPT_LIST, .elements = OPT_INT},
    {.name = "env", .type = OPT_DICT},
    {.name = "dest", .type = OPT_PATH},
    {.name = "password", .type = OPT_STR, .no_log = true},
    {.name = "extra", .type = OPT_RAW},
    {.name = "url", .type = OPT_STR, .url = true},
    {.name = "urls", .type = OPT_LIST, .url = true},
    {.name = "paths", .type = OPT_LIST, .elements = OPT_PATH},
    {0},
};

/* Loads text into a fresh module and returns its result as a parsed object (caller decrefs). */
static json_t *load(const char *text, size_t len, struct module *m)
{
	assert_int_equal(module_init(m, "demo", OPTIONS), 0);
	module_load_json(m, text, len);
	char *dump = module_result_dump(m);
	json_t *result = json_loads(dump, 0, NULL);
	assert_non_null(result);
	free(dump);
	return result;
}

static json_t *load_str(const char *text, struct module *m)
{
	return load(text, strlen(text), m);
}

static const char *msg_of(const json_t *result)
{
	return json_string_value(json_object_get(result, "msg"));
}

#define assert_failed_with(result, needle)                                                         \
	do {                                                                                       \
		assert_true(json_is_true(json_object_get(result, "failed")));                      \
		const char *msg_ = msg_of(result);                                                 \
		if (!msg_ || !strstr(msg_, needle))                                                \
			fail_msg("expected msg containing '%s', got '%s'", needle,                 \
				 msg_ ? msg_ : "(none)");                                          \
	} while (0)

static void test_defaults_and_coercion(void **state)
{
	struct module m;
	json_t *r =
	    load_str("{\"unit\": \"x\", \"count\": \"42\", \"force\": \"yes\","
		     " \"sans\": \"a, b,,c\", \"ports\": [\"1\", 2], \"env\": \"A=1, B=two\","
		     " \"_ansible_check_mode\": true, \"_ansible_diff\": \"yes\","
		     " \"_ansible_future_key\": 1}",
		     &m);
	(void)state;
	assert_false(json_is_true(json_object_get(r, "failed")));
	assert_false(json_is_true(json_object_get(r, "changed")));
	assert_string_equal(module_str(&m, "name"), "x");
	assert_string_equal(module_str(&m, "state"), "present");
	assert_int_equal(module_int(&m, "count"), 42);
	assert_true(module_bool(&m, "force"));
	assert_int_equal(module_list_size(&m, "sans"), 3);
	assert_string_equal(module_list_str(&m, "sans", 2), "c");
	assert_int_equal(json_integer_value(json_array_get(module_get(&m, "ports"), 0)), 1);
	assert_string_equal(json_string_value(json_object_get(module_get(&m, "env"), "B")), "two");
	assert_false(module_has(&m, "dest"));
	assert_true(m.check_mode);
	assert_true(m.diff_mode);
	json_decref(r);
	module_free(&m);
}

static void test_missing_required(void **state)
{
	struct module m;
	json_t *r = load_str("{\"state\": \"absent\"}", &m);
	(void)state;
	assert_failed_with(r, "missing required arguments: name");
	json_decref(r);
	module_free(&m);
}

static void test_unknown_option(void **state)
{
	struct module m;
	json_t *r = load_str("{\"name\": \"x\", \"bogus\": 1, \"_ansible_ok\": 2}", &m);
	(void)state;
	assert_failed_with(r, "Unsupported parameters for (demo) module: bogus");
	json_decref(r);
	module_free(&m);
}

static void test_bad_choice(void **state)
{
	struct module m;
	json_t *r = load_str("{\"name\": \"x\", \"state\": \"gone\"}", &m);
	(void)state;
	assert_failed_with(r, "value of state must be one of: present, absent, got: gone");
	json_decref(r);
	module_free(&m);
}

static void test_wrong_types(void **state)
{
	static const char *const cases[][2] = {
	    {"{\"name\": \"x\", \"count\": \"many\"}", "argument 'count'"},
	    {"{\"name\": \"x\", \"count\": 1.5}", "argument 'count'"},
	    {"{\"name\": \"x\", \"count\": 5.2e89}", "argument 'count'"},
	    {"{\"name\": \"x\", \"force\": \"maybe\"}", "argument 'force'"},
	    {"{\"name\": \"x\", \"force\": 7}", "argument 'force'"},
	    {"{\"name\": [1]}", "argument 'name'"},
	    {"{\"name\": {\"a\": 1}}", "argument 'name'"},
	    {"{\"name\": \"x\", \"sans\": {\"a\": 1}}", "argument 'sans'"},
	    {"{\"name\": \"x\", \"ports\": [\"http\"]}", "argument 'ports'"},
	    {"{\"name\": \"x\", \"env\": [1]}", "argument 'env'"},
	    {"{\"name\": \"x\", \"env\": \"novalue\"}", "argument 'env'"},
	    {"{\"name\": \"x\", \"dest\": true}", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct module m;
		json_t *r = load_str(cases[i][0], &m);

		if (cases[i][1])
			assert_failed_with(r, cases[i][1]);
		else
			assert_false(json_is_true(json_object_get(r, "failed")));
		json_decref(r);
		module_free(&m);
	}
}

static void test_not_json(void **state)
{
	static const char *const cases[][2] = {
	    {"not json", "not valid JSON"},
	    {"[1, 2]", "must hold a JSON object"},
	    {"\"str\"", "must hold a JSON object"},
	    {"{\"name\": \"a\", \"name\": \"b\"}", "not valid JSON"},
	    {"{\"name\": \"a\\u0000b\"}", "not valid JSON"},
	    {"{\"name\": \"x\"} trailing", "not valid JSON"},
	    {"{\"name\": 123456789012345678901234567890}", "not valid JSON"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct module m;
		json_t *r = load_str(cases[i][0], &m);

		assert_failed_with(r, cases[i][1]);
		json_decref(r);
		module_free(&m);
	}
}

static void test_raw_nul_byte_and_empty(void **state)
{
	static const char with_nul[] = "{\"name\": \"a\"}\0{\"x\": 1}";
	struct module m;
	json_t *r;
	(void)state;

	r = load(with_nul, sizeof(with_nul) - 1, &m);
	assert_failed_with(r, "not valid JSON");
	json_decref(r);
	module_free(&m);

	r = load("", 0, &m);
	assert_failed_with(r, "the args file is empty");
	json_decref(r);
	module_free(&m);
}

static void test_deeply_nested(void **state)
{
	size_t depth = 200000, len = 2 * depth + 32;
	char *text = malloc(len);
	struct module m;
	json_t *r;
	(void)state;

	assert_non_null(text);
	size_t off = (size_t)sprintf(text, "{\"name\": \"x\", \"extra\": ");
	memset(text + off, '[', depth);
	memset(text + off + depth, ']', depth);
	strcpy(text + off + 2 * depth, "}");
	r = load_str(text, &m);
	assert_failed_with(r, "not valid JSON");
	json_decref(r);
	module_free(&m);
	free(text);
}

static void test_no_log_masked_everywhere(void **state)
{
	struct module m;
	json_t *r, *inv;
	char *dump;
	(void)state;

	assert_int_equal(module_init(&m, "demo", OPTIONS), 0);
	const char *args = "{\"name\": \"x\", \"password\": \"hunter2secret\"}";

	module_load_json(&m, args, strlen(args));
	module_fail(&m, "login with hunter2secret refused");
	module_warn(&m, "the password hunter2secret is weak");
	module_set_str(&m, "echo", "pw=hunter2secret;");
	module_add_secret(&m, "derived-token-123");
	module_set(&m, "nested", json_pack("{s:[s]}", "derived-token-123", "x derived-token-123"));
	dump = module_result_dump(&m);
	assert_null(strstr(dump, "hunter2secret"));
	assert_null(strstr(dump, "derived-token-123"));
	r = json_loads(dump, 0, NULL);
	inv = json_object_get(json_object_get(r, "invocation"), "module_args");
	assert_string_equal(json_string_value(json_object_get(inv, "password")),
			    "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
	assert_string_equal(json_string_value(json_object_get(inv, "name")), "x");
	assert_string_equal(json_string_value(json_object_get(r, "echo")), "pw=********;");
	free(dump);
	json_decref(r);
	module_free(&m);
}

static void test_no_log_masked_on_validation_error(void **state)
{
	struct module m;
	json_t *r = load_str("{\"password\": \"s3cr3t-value\", \"state\": \"s3cr3t-value\"}", &m);
	char *dump = json_dumps(r, 0);
	(void)state;
	assert_true(json_is_true(json_object_get(r, "failed")));
	assert_null(strstr(dump, "s3cr3t-value"));
	free(dump);
	json_decref(r);
	module_free(&m);
}

static void test_url_credentials_masked_everywhere(void **state)
{
	struct module m;
	char *dump;
	(void)state;

	assert_int_equal(module_init(&m, "demo", OPTIONS), 0);
	const char *args = "{\"name\": \"x\", \"url\": \"https://me:pa%40ss@h:1\", "
			   "\"urls\": [\"https://a:tok1@h\", \"https://h2\"]}";

	module_load_json(&m, args, strlen(args));
	/* the password alone (as curl sends it, decoded) and URLs no option gave */
	module_warn(&m, "auth as me with pa@ss and tok1 refused");
	module_set_str(&m, "answer", "peer https://x:other@h3:2380 down");
	module_fail(&m, "https://me:pa%%40ss@h:1/health: refused");
	dump = module_result_dump(&m);
	assert_null(strstr(dump, "pa%40ss"));
	assert_null(strstr(dump, "pa@ss"));
	assert_null(strstr(dump, "tok1"));
	assert_null(strstr(dump, "other"));
	assert_non_null(strstr(dump, "https://me:********@h:1"));
	assert_non_null(strstr(dump, "https://h2"));
	free(dump);
	module_free(&m);
}

static void test_dotdot_in_paths_refused(void **state)
{
	struct module m;
	json_t *r;
	(void)state;

	r = load_str("{\"name\": \"x\", \"dest\": \"/etc/../tmp/x/../../etc\"}", &m);
	assert_failed_with(r, "argument 'dest': '..' is not allowed in a path");
	json_decref(r);
	module_free(&m);
	r = load_str("{\"name\": \"x\", \"paths\": [\"/a\", \"../b\"]}", &m);
	assert_failed_with(r, "argument 'paths': '..' is not allowed");
	json_decref(r);
	module_free(&m);
	r = load_str("{\"name\": \"x\", \"dest\": \"/a/..b/c..\", \"paths\": [\"/x/.../y\"]}", &m);
	assert_false(json_is_true(json_object_get(r, "failed")));
	json_decref(r);
	module_free(&m);
}

static void test_ansible_no_log_hides_invocation(void **state)
{
	struct module m;
	json_t *r = load_str("{\"name\": \"visible\", \"_ansible_no_log\": true}", &m);
	json_t *inv = json_object_get(json_object_get(r, "invocation"), "module_args");
	(void)state;
	assert_string_equal(json_string_value(json_object_get(inv, "name")),
			    "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER");
	json_decref(r);
	module_free(&m);
}

static void test_failed_and_changed_always_set(void **state)
{
	struct module m;
	json_t *r = load_str("{\"name\": \"x\"}", &m);
	(void)state;
	assert_true(json_is_false(json_object_get(r, "failed")));
	assert_true(json_is_false(json_object_get(r, "changed")));
	json_decref(r);
	module_free(&m);
}

static void test_diff_only_in_diff_mode(void **state)
{
	struct module m;
	json_t *r;
	(void)state;

	r = load_str("{\"name\": \"x\"}", &m);
	json_decref(r);
	module_add_diff(&m, "/etc/x", "a\n", "b\n");
	assert_null(json_object_get(m.result, "diff"));
	module_free(&m);

	r = load_str("{\"name\": \"x\", \"_ansible_diff\": true}", &m);
	json_decref(r);
	module_add_diff(&m, "/etc/x", "a\n", "b\n");
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(json_object_get(m.result, "diff"), 0), "after")),
			    "b\n");
	module_free(&m);
}

/* ---- the file path: missing, directory, FIFO, huge ---------------------------------------- */

static json_t *load_path(const char *path, struct module *m)
{
	assert_int_equal(module_init(m, "demo", OPTIONS), 0);
	module_load_file(m, path);
	char *dump = module_result_dump(m);
	json_t *r = json_loads(dump, 0, NULL);
	free(dump);
	return r;
}

static void test_args_file_kinds(void **state)
{
	char dir[] = "/tmp/test_module.XXXXXX", fifo[64], big[64];
	struct module m;
	json_t *r;
	FILE *f;
	(void)state;

	assert_non_null(mkdtemp(dir));
	r = load_path("/nonexistent/args", &m);
	assert_failed_with(r, "cannot read the args file");
	json_decref(r);
	module_free(&m);

	r = load_path(dir, &m);
	assert_failed_with(r, "not a regular file");
	json_decref(r);
	module_free(&m);

	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	r = load_path(fifo, &m); /* must not block waiting for a writer */
	assert_failed_with(r, "not a regular file");
	json_decref(r);
	module_free(&m);
	unlink(fifo);

	snprintf(big, sizeof(big), "%s/big", dir);
	f = fopen(big, "w");
	assert_non_null(f);
	assert_int_equal(fseek(f, (long)MODULE_ARGS_MAX + 1, SEEK_SET), 0);
	fputc('}', f);
	fclose(f);
	r = load_path(big, &m);
	assert_failed_with(r, "larger than");
	json_decref(r);
	module_free(&m);
	unlink(big);
	rmdir(dir);
}

/* ---- stdin ("-"): the same JSON, read to its end, bounded --------------------------------- */

/* Loads text through a pipe on fd 0 (a writer thread is not needed: the pipe holds 64 KiB). */
static json_t *load_stdin_text(const char *text, size_t len, struct module *m)
{
	int fds[2], saved = dup(STDIN_FILENO);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], text, len), (ssize_t)len);
	close(fds[1]);
	dup2(fds[0], STDIN_FILENO);
	close(fds[0]);
	assert_int_equal(module_init(m, "demo", OPTIONS), 0);
	module_load_stdin(m);
	dup2(saved, STDIN_FILENO);
	close(saved);
	char *dump = module_result_dump(m);
	json_t *r = json_loads(dump, 0, NULL);
	free(dump);
	return r;
}

static void test_args_on_stdin(void **state)
{
	const char good[] = "{\"name\": \"from-stdin\", \"_ansible_check_mode\": true}";
	struct module m;
	json_t *r;
	(void)state;

	r = load_stdin_text(good, strlen(good), &m);
	assert_false(m.failed);
	assert_true(m.check_mode);
	assert_string_equal(module_str(&m, "name"), "from-stdin");
	json_decref(r);
	module_free(&m);

	r = load_stdin_text("", 0, &m);
	assert_failed_with(r, "the args file is empty");
	json_decref(r);
	module_free(&m);

	r = load_stdin_text("{\"name\": ", 10, &m);
	assert_failed_with(r, "not valid JSON");
	json_decref(r);
	module_free(&m);
}

/* ---- module_main: exactly one JSON object on stdout, exit code follows `failed` ------------- */

static int run_ok(struct module *m)
{
	printf("library noise on stdout\n"); /* must not corrupt the result */
	fflush(stdout);
	module_set_changed(m, true);
	return 0;
}

static char *capture_main(const char *args_text, int *exit_code)
{
	char path[] = "/tmp/test_module_args.XXXXXX", out_path[] = "/tmp/test_module_out.XXXXXX";
	int fd = mkstemp(path), out_fd = mkstemp(out_path), saved = dup(STDOUT_FILENO);
	char *argv[] = {"demo", path, NULL}, *text = calloc(1, 65536);

	assert_true(fd >= 0 && out_fd >= 0 && saved >= 0 && text);
	assert_int_equal(write(fd, args_text, strlen(args_text)), (ssize_t)strlen(args_text));
	close(fd);
	fflush(stdout);
	dup2(out_fd, STDOUT_FILENO);
	*exit_code = module_main(2, argv, "demo", OPTIONS, run_ok);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	assert_true(pread(out_fd, text, 65535, 0) > 0);
	close(out_fd);
	unlink(path);
	unlink(out_path);
	return text;
}

static void test_main_prints_one_object(void **state)
{
	int code;
	char *out;
	json_error_t err;
	json_t *r;
	(void)state;

	/* module_main moves stdout to stderr for run(); restore our stdout afterwards each time. */
	int keep_stdout = dup(STDOUT_FILENO);
	out = capture_main("{\"name\": \"ok\"}", &code);
	dup2(keep_stdout, STDOUT_FILENO);
	r = json_loads(out, 0, &err);
	if (!r)
		fail_msg("stdout is not one JSON object: %s (%s)", out, err.text);
	assert_int_equal(code, 0);
	assert_true(json_is_true(json_object_get(r, "changed")));
	json_decref(r);
	free(out);

	out = capture_main("{\"nope\": 1}", &code);
	dup2(keep_stdout, STDOUT_FILENO);
	close(keep_stdout);
	r = json_loads(out, 0, &err);
	assert_non_null(r);
	assert_int_equal(code, 1);
	assert_failed_with(r, "Unsupported parameters");
	json_decref(r);
	free(out);
}

/* ---- a module described by a spec: required_if rules and the {state, handler} table ---- */

static const char *ran;

static int spec_present(struct module *m)
{
	ran = "present";
	module_set_str(m, "did", "present");
	return 0;
}

static int spec_absent(struct module *m)
{
	(void)m;
	ran = "absent";
	return 0;
}

static const char *const SPEC_PRESENT_NEEDS[] = {"dest", "sans", NULL};
static const char *const SPEC_ABSENT_NEEDS[] = {"dest", "password", NULL};

static const struct option_rule SPEC_RULES[] = {
    {.option = "state", .value = "present", .requires = SPEC_PRESENT_NEEDS},
    {.option = "state",
     .value = "absent",
     .requires = SPEC_ABSENT_NEEDS,
     .any = true,
     .why = " to know what to remove"},
    {0},
};

static const struct state_handler SPEC_STATES[] = {
    {"present", spec_present},
    {"absent", spec_absent},
    {0},
};

static const struct option_spec SPEC_OPTIONS[] = {
    {.name = "name", .type = OPT_STR, .required = true},
    {.name = "state", .type = OPT_STR, .def = "present"},
    {.name = "dest", .type = OPT_PATH},
    {.name = "sans", .type = OPT_LIST},
    {.name = "password", .type = OPT_STR, .no_log = true},
    {0},
};

static const struct module_spec SPEC = {
    .name = "demo",
    .options = SPEC_OPTIONS,
    .rules = SPEC_RULES,
    .states = SPEC_STATES,
};

/* Loads and runs like module_main_spec (items included); returns the printed text (caller
 * frees). */
static char *run_spec_text(const struct module_spec *spec, const char *text)
{
	struct module m;
	char *dump;

	assert_int_equal(module_init_spec(&m, spec), 0);
	if (module_load_json(&m, text, strlen(text)) == 0)
		m.items_args ? module_run_items(&m) : module_dispatch(&m);
	dump = module_result_dump(&m);
	module_free(&m);
	assert_non_null(dump);
	return dump;
}

/* The printed text as an object (caller decrefs); frees the text. */
static json_t *parsed(char *dump)
{
	json_t *result = json_loads(dump, 0, NULL);

	assert_non_null(result);
	free(dump);
	return result;
}

static json_t *run_spec(const char *text)
{
	ran = NULL;
	return parsed(run_spec_text(&SPEC, text));
}

static void test_spec_rules_and_dispatch(void **state)
{
	json_t *r;
	(void)state;

	/* the state's choices are the table's, in its order */
	r = run_spec("{\"name\": \"x\", \"state\": \"gone\"}");
	assert_failed_with(r, "value of state must be one of: present, absent, got: gone");
	assert_null(ran);
	json_decref(r);
	/* all of: the first missing one is named */
	r = run_spec("{\"name\": \"x\", \"dest\": \"/d\"}");
	assert_failed_with(r, "sans is required with state=present");
	assert_null(ran);
	json_decref(r);
	/* an empty list is not given */
	r = run_spec("{\"name\": \"x\", \"dest\": \"/d\", \"sans\": []}");
	assert_failed_with(r, "sans is required with state=present");
	json_decref(r);
	r = run_spec("{\"name\": \"x\", \"dest\": \"/d\", \"sans\": [\"a\"]}");
	assert_false(json_is_true(json_object_get(r, "failed")));
	assert_string_equal(ran, "present");
	assert_string_equal(json_string_value(json_object_get(r, "did")), "present");
	json_decref(r);
	/* one of */
	r = run_spec("{\"name\": \"x\", \"state\": \"absent\"}");
	assert_failed_with(r, "state=absent needs dest or password to know what to remove");
	json_decref(r);
	r = run_spec("{\"name\": \"x\", \"state\": \"absent\", \"password\": \"s3cret\"}");
	assert_false(json_is_true(json_object_get(r, "failed")));
	assert_string_equal(ran, "absent");
	json_decref(r);
}

/* ---- items: many calls in one exec ---- */

static char item_runs[256];

/* Records each run ("name:dest;"), changes for name "c", fails for name "bad", diffs always. */
static int items_present(struct module *m)
{
	const char *name = module_str(m, "name"), *dest = module_str(m, "dest");
	size_t used = strlen(item_runs);

	snprintf(item_runs + used, sizeof(item_runs) - used, "%s:%s;", name, dest ? dest : "");
	if (strcmp(name, "bad") == 0)
		return module_fail(m, "name bad refused");
	module_set_changed(m, strcmp(name, "c") == 0);
	module_add_diff(m, name, "before\n", "after\n");
	return 0;
}

static const struct state_handler ITEMS_STATES[] = {{"present", items_present}, {0}};

static const struct module_spec ITEMS_SPEC = {
    .name = "demo",
    .options = SPEC_OPTIONS,
    .states = ITEMS_STATES,
    .items = true,
};

static char *run_items_text(const char *text)
{
	item_runs[0] = '\0';
	return run_spec_text(&ITEMS_SPEC, text);
}

static json_t *run_items(const char *text)
{
	return parsed(run_items_text(text));
}

static void test_items_run_in_order_with_shared_options(void **state)
{
	json_t *r, *results;
	(void)state;

	r = run_items("{\"_ansible_diff\": true, \"dest\": \"/shared\", \"items\": [{\"name\": "
		      "\"a\"}, {\"name\": \"c\", \"dest\": \"/own\"}, {\"name\": \"b\"}]}");
	assert_false(json_is_true(json_object_get(r, "failed")));
	assert_string_equal(item_runs, "a:/shared;c:/own;b:/shared;");
	results = json_object_get(r, "results");
	assert_int_equal(json_array_size(results), 3);
	assert_true(json_is_true(json_object_get(r, "changed")));
	assert_false(json_is_true(json_object_get(json_array_get(results, 0), "changed")));
	assert_true(json_is_true(json_object_get(json_array_get(results, 1), "changed")));
	assert_string_equal(msg_of(r), "3 items, 1 changed");
	/* every diff once, at the top, as a list; the items keep no invocation of their own */
	assert_int_equal(json_array_size(json_object_get(r, "diff")), 3);
	assert_null(json_object_get(json_array_get(results, 0), "diff"));
	assert_null(json_object_get(json_array_get(results, 0), "invocation"));
	json_decref(r);
	/* no items: nothing runs, nothing changes */
	r = run_items("{\"items\": []}");
	assert_false(json_is_true(json_object_get(r, "failed")));
	assert_false(json_is_true(json_object_get(r, "changed")));
	assert_int_equal(json_array_size(json_object_get(r, "results")), 0);
	assert_string_equal(item_runs, "");
	json_decref(r);
}

static void test_items_first_failure_stops(void **state)
{
	json_t *r;
	(void)state;

	r = run_items("{\"items\": [{\"name\": \"c\"}, {\"name\": \"bad\"}, {\"name\": \"z\"}]}");
	assert_failed_with(r, "items[1]: name bad refused (the items after it did not run)");
	assert_string_equal(item_runs, "c:;bad:;");
	assert_int_equal(json_array_size(json_object_get(r, "results")), 2);
	assert_true(json_is_true(json_object_get(r, "changed")));
	json_decref(r);
	/* each item is validated as a task of its own: the name is required in each */
	r = run_items("{\"items\": [{\"dest\": \"/d\"}]}");
	assert_failed_with(r, "items[0]: missing required arguments: name");
	assert_string_equal(item_runs, "");
	json_decref(r);
	r = run_items("{\"items\": [{\"name\": \"a\", \"items\": []}]}");
	assert_failed_with(r, "items[0]: Unsupported parameters for (demo) module: items");
	json_decref(r);
	r = run_items("{\"items\": \"a,b\"}");
	assert_failed_with(r, "items must be a list of dicts");
	json_decref(r);
	r = run_items("{\"items\": [{\"name\": \"a\"}, 7]}");
	assert_failed_with(r, "items[1] must be a dict of options");
	assert_string_equal(item_runs, "");
	json_decref(r);
}

/* A secret of an item that never ran (after a failure) is masked all the same. */
static void test_items_secrets_masked(void **state)
{
	char *text;
	(void)state;

	text = run_items_text("{\"password\": \"sharedpw\", \"items\": [{\"name\": \"bad\", "
			      "\"password\": \"firstpw\"}, {\"name\": \"a\", \"password\": "
			      "\"laterpw\"}]}");
	assert_null(strstr(text, "sharedpw"));
	assert_null(strstr(text, "firstpw"));
	assert_null(strstr(text, "laterpw"));
	assert_non_null(strstr(text, "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"));
	free(text);
	/* a module without items keeps refusing the option */
	json_t *r = run_spec("{\"name\": \"x\", \"items\": []}");
	assert_failed_with(r, "Unsupported parameters for (demo) module: items");
	json_decref(r);
	json_t *d = module_describe_spec(&ITEMS_SPEC);
	json_t *items = json_object_get(json_object_get(d, "options"), "items");
	assert_string_equal(json_string_value(json_object_get(items, "elements")), "dict");
	json_decref(d);
}

/* module_ensure_file: written when content, mode or owner differ; check mode only says so. */
static void test_ensure_file(void **state)
{
	char dir[] = "/tmp/test_module_XXXXXX", path[64];
	struct module m;
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	struct error err;
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/job.json", dir);
	assert_int_equal(module_init(&m, "demo", OPTIONS), 0);
	m.check_mode = true;
	assert_int_equal(module_ensure_file(&m, "dest", path, "{}\n", 0600), 1);
	assert_int_equal(stat(path, &st), -1); /* check mode wrote nothing */
	m.check_mode = false;
	m.diff_mode = true;
	assert_int_equal(module_ensure_file(&m, "dest", path, "{}\n", 0600), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(fs_read_file(path, 64, &text, &len, &err), 0);
	assert_string_equal(text, "{}\n");
	free(text);
	assert_int_equal(json_array_size(json_object_get(m.result, "diff")), 1);
	assert_int_equal(module_ensure_file(&m, "dest", path, "{}\n", 0600), 0);
	assert_int_equal(chmod(path, 0644), 0); /* a mode that drifted is put back */
	assert_int_equal(module_ensure_file(&m, "dest", path, "{}\n", 0600), 1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(module_ensure_file(&m, "dest", path, "{\"a\": 1}\n", 0600), 1);
	assert_int_equal(module_ensure_file(&m, "dest", dir, "{}\n", 0600), -1);
	assert_true(m.failed);
	module_free(&m);
	unlink(path);
	rmdir(dir);
}

/* --describe-options: the table as data, defaults coerced, for the docs test. */
static void test_describe_options(void **state)
{
	(void)state;
	json_t *d = module_describe_options("demo", OPTIONS);
	json_t *o = json_object_get(d, "options");

	assert_non_null(d);
	assert_string_equal(json_string_value(json_object_get(d, "module")), "demo");
	assert_int_equal(json_object_size(o), 13);
	json_t *name = json_object_get(o, "name");
	assert_true(json_is_true(json_object_get(name, "required")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(name, "aliases"), 0)),
			    "unit");
	json_t *st = json_object_get(o, "state");
	assert_string_equal(json_string_value(json_object_get(st, "default")), "present");
	assert_int_equal(json_array_size(json_object_get(st, "choices")), 2);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(o, "count"), "default")), 3);
	assert_true(json_is_false(json_object_get(json_object_get(o, "force"), "default")));
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(o, "ports"), "elements")), "int");
	assert_true(json_is_true(json_object_get(json_object_get(o, "password"), "no_log")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "dest"), "type")),
			    "path");
	assert_null(json_object_get(json_object_get(o, "sans"), "default"));
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_and_coercion),
	    cmocka_unit_test(test_missing_required),
	    cmocka_unit_test(test_unknown_option),
	    cmocka_unit_test(test_bad_choice),
	    cmocka_unit_test(test_wrong_types),
	    cmocka_unit_test(test_not_json),
	    cmocka_unit_test(test_raw_nul_byte_and_empty),
	    cmocka_unit_test(test_deeply_nested),
	    cmocka_unit_test(test_no_log_masked_everywhere),
	    cmocka_unit_test(test_no_log_masked_on_validation_error),
	    cmocka_unit_test(test_url_credentials_masked_everywhere),
	    cmocka_unit_test(test_dotdot_in_paths_refused),
	    cmocka_unit_test(test_ansible_no_log_hides_invocation),
	    cmocka_unit_test(test_failed_and_changed_always_set),
	    cmocka_unit_test(test_diff_only_in_diff_mode),
	    cmocka_unit_test(test_args_file_kinds),
	    cmocka_unit_test(test_args_on_stdin),
	    cmocka_unit_test(test_main_prints_one_object),
	    cmocka_unit_test(test_spec_rules_and_dispatch),
	    cmocka_unit_test(test_describe_options),
	    cmocka_unit_test(test_items_run_in_order_with_shared_options),
	    cmocka_unit_test(test_items_first_failure_stops),
	    cmocka_unit_test(test_items_secrets_masked),
	    cmocka_unit_test(test_ensure_file),
	};
	return cmocka_run_group_tests_name("module", tests, NULL, NULL);
}
