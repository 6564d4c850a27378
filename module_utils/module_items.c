/*
 * module_items: many calls of one module in one exec (module_items.h).
 *
 * Why: every task costs Ansible a worker, a connection and an exec on the host. A role that
 * issues three certificates or installs three timers in a loop pays that three times; one task
 * with `items` pays it once, and each item still runs exactly as a task of its own would.
 */
#include "module_items.h"

#include <stdio.h>
#include <string.h>

/* Appends value to the list result[key] (made when missing); a list value is appended item by
 * item. */
static void append_to_list(json_t *result, const char *key, json_t *value)
{
	json_t *list = json_object_get(result, key);

	if (!value)
		return;
	if (!list) {
		list = json_array();
		json_object_set_new(result, key, list);
	}
	if (json_is_array(value))
		json_array_extend(list, value);
	else
		json_array_append(list, value);
}

static int check_items(struct module *m, const json_t *items)
{
	size_t i;
	json_t *item;

	if (!json_is_array(items))
		return module_fail(m,
				   "items must be a list of dicts, each the options of one call");
	json_array_foreach(items, i, item) if (!json_is_object(item)) return module_fail(
	    m, "items[%zu] must be a dict of options (the options of one call)", i);
	return 0;
}

/* The invocation: the shared options and every item, no_log options masked (run or not). */
static void set_items_invocation(struct module *m, const json_t *shared, const json_t *items)
{
	json_t *shown = module_masked_args(m, shared), *list = json_array(), *item;
	size_t i;

	json_array_foreach(items, i, item) json_array_append_new(list, module_masked_args(m, item));
	json_object_set_new(shown, "items", list);
	json_object_set_new(m->result, "invocation", json_pack("{s:o}", "module_args", shown));
}

/* One item's result into the whole: its secrets, changed, diff (shown once, at the top) and
 * warnings. */
static void gather(struct module *m, struct module *item, json_t *results)
{
	append_to_list(m->result, "diff", json_object_get(item->result, "diff"));
	json_object_del(item->result, "diff");
	append_to_list(m->result, "warnings", json_object_get(item->result, "warnings"));
	json_object_del(item->result, "invocation");
	json_array_extend(m->secrets, item->secrets);
	if (module_changed(item))
		module_set_changed(m, true);
	json_array_append(results, item->result);
}

/* Runs items[index] (shared options updated with its own); 0, or -1 when it failed. `more`: items
 * follow it (that will not run if it fails). */
static int run_item(struct module *m, const json_t *shared, const json_t *options, size_t index,
		    bool more, json_t *results)
{
	struct module item;
	json_t *args = json_copy((json_t *)shared);
	const char *msg;
	int rc = 0;

	if (!args || module_init_spec(&item, m->spec) < 0) {
		json_decref(args);
		return module_fail(m, "items[%zu]: out of memory", index);
	}
	item.is_item = true;
	json_object_update(args, (json_t *)options);
	if (module_load_object(&item, args) == 0 && module_dispatch(&item) < 0 && !item.failed)
		module_fail(&item, "%s failed without a message (a bug: please report it)",
			    m->name);
	module_finish_result(&item);
	gather(m, &item, results);
	if (item.failed) {
		msg = json_string_value(json_object_get(item.result, "msg"));
		rc = module_fail(m, "items[%zu]: %s%s", index, msg ? msg : "failed",
				 more ? " (the items after it did not run)" : "");
	}
	module_free(&item);
	json_decref(args);
	return rc;
}

int module_run_items(struct module *m)
{
	json_t *items = json_object_get(m->items_args, "items");
	json_t *shared = json_copy(m->items_args), *results = json_array(), *options;
	size_t i, changed = 0;
	int rc = 0;

	if (!shared || !results) {
		json_decref(shared);
		json_decref(results);
		return module_fail(m, "out of memory");
	}
	json_object_del(shared, "items");
	set_items_invocation(m, shared, json_is_array(items) ? items : NULL);
	json_object_set(m->result, "results", results);
	if (check_items(m, items) < 0)
		goto out;
	json_array_foreach(items, i, options)
	{
		rc = run_item(m, shared, options, i, i + 1 < json_array_size(items), results);
		if (rc < 0)
			break;
		changed += json_is_true(json_object_get(json_array_get(results, i), "changed"));
	}
	if (rc == 0)
		module_set_msg(m, "%zu items, %zu changed", json_array_size(items), changed);
out:
	json_decref(shared);
	json_decref(results);
	return m->failed ? -1 : 0;
}
