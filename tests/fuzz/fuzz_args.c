/*
 * libFuzzer target for the args path: any bytes as an args file must give a JSON result with
 * `failed` set, never a crash, hang or leak, and a no_log value must never reach the output.
 */
#include "module.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const CHOICES[] = {"present", "absent", "query", NULL};
static const char *const ALIASES[] = {"n", NULL};

static const struct option_spec OPTIONS[] = {
    {.name = "name", .type = OPT_STR, .aliases = ALIASES},
    {.name = "state", .type = OPT_STR, .def = "present", .choices = CHOICES},
    {.name = "count", .type = OPT_INT},
    {.name = "flag", .type = OPT_BOOL, .def = "false"},
    {.name = "items", .type = OPT_LIST},
    {.name = "ports", .type = OPT_LIST, .elements = OPT_INT},
    {.name = "maps", .type = OPT_LIST, .elements = OPT_DICT},
    {.name = "env", .type = OPT_DICT},
    {.name = "path", .type = OPT_PATH},
    {.name = "secret", .type = OPT_STR, .no_log = true},
    {.name = "raw", .type = OPT_RAW},
    {0},
};

/* true if any string or key below v contains needle (JSON punctuation like `null` is not data). */
static bool contains_string(const json_t *v, const char *needle)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v))
		return strstr(json_string_value(v), needle) != NULL;
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) if (contains_string(item, needle)) return true;
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key,
				    item) if (strstr(key, needle) ||
					      contains_string(item, needle)) return true;
	}
	return false;
}

/* The result's own keys (changed, failed, msg...) are ours; everything below is checked. */
static bool leaks_secret(const json_t *result, const char *secret)
{
	const char *key;
	json_t *item;

	json_object_foreach((json_t *)result, key,
			    item) if (contains_string(item, secret)) return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct module m;
	json_t *result;
	char *out;

	if (module_init(&m, "fuzz", OPTIONS) < 0)
		return 0;
	module_load_json(&m, (const char *)data, size);
	if (!m.failed && module_has(&m, "secret"))
		module_set_str(&m, "echo", module_str(&m, "secret"));
	out = module_result_dump(&m);
	result = out ? json_loads(out, 0, NULL) : NULL;
	if (!result || !json_is_boolean(json_object_get(result, "failed")))
		abort();
	/* A secret of 3+ chars must never be printed (shorter ones may match placeholder text). */
	if (!m.failed && module_has(&m, "secret") && strlen(module_str(&m, "secret")) > 2 &&
	    !strstr("VALUE_SPECIFIED_IN_NO_LOG_PARAMETER********", module_str(&m, "secret")) &&
	    leaks_secret(result, module_str(&m, "secret")))
		abort();
	json_decref(result);
	free(out);
	module_free(&m);
	return 0;
}
