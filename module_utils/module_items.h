/*
 * module_items: many calls of one module in one exec, for a module whose spec sets `items`.
 *
 * A task gives `items: [{...}, ...]` beside the options the items share; each item is the shared
 * options updated with its own (the item wins), validated and run exactly as a task of its own,
 * in order. The first item that fails stops the run: the message names it (items[N]) and says
 * the rest did not run. The result: `results` (one per item run, the shape of a looped task's
 * register), `changed` when any item changed, every item's diff in a `diff` list, their
 * warnings. The secrets of every item are scrubbed from all of it and masked in the invocation,
 * run or not. module_main_spec calls it when module_load_json kept the args whole
 * (m->items_args).
 */
#ifndef ETCD_ANSIBLE_MODULE_ITEMS_H
#define ETCD_ANSIBLE_MODULE_ITEMS_H

#include "module.h"

int module_run_items(struct module *m);

#endif
