/*
 * etcd_files: the directories, text files and symbolic links a role wants on a node, made as
 * wanted in one exec (module_utils/wanted.c).
 *
 * Why a module: a role's files were one ansible.builtin.file, template or copy task each, every
 * one a Python module run with its own transfer (0.5-0.8 s a task on a 3-node create). Here the
 * controller renders the text, and one call per role compares everything first, then writes only
 * what differs: a directory's mode and owner mended, a file written whole (a temporary file with
 * the final mode and owner from the first byte, renamed over), a link replaced by a rename.
 * Something of another kind at a path is refused, never replaced; nothing is deleted. With
 * backup, a file it replaces stays beside it as FILE.replaced-STAMP.
 *
 * The result's changed_paths says which entries differed, so a caller can tell "the unit
 * changed" from "the configuration changed" (a restart, a daemon-reload) without a task each.
 * A file marked secret is masked in every output and shows no content in a diff.
 */
#include "module.h"
#include "wanted.h"

static const struct option_spec options[] = {
    {.name = "directories", .type = OPT_LIST, .elements = OPT_DICT},
    /* Not no_log as a whole (every path and owner would be masked): a content is hidden when
     * its entry says secret (hide_secret_contents). */
    {.name = "files", .type = OPT_LIST, .elements = OPT_DICT},
    {.name = "links", .type = OPT_LIST, .elements = OPT_DICT},
    {.name = "backup", .type = OPT_BOOL, .def = "false"},
    {0},
};

static int run(struct module *m)
{
	const struct wanted_how how = {
	    .keep_tag = module_bool(m, "backup") ? "replaced" : NULL,
	};

	return wanted_apply(m, &how);
}

static int hide_secret_contents(struct module *m)
{
	wanted_hide_secrets(m, false);
	return 0;
}

static const struct module_spec spec = {
    .name = "etcd_files",
    .options = options,
    .before = hide_secret_contents,
    .run = run,
};

int main(int argc, char **argv)
{
	return module_main_spec(argc, argv, &spec);
}
