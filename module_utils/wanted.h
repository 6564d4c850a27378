/*
 * wanted: directories, files and symbolic links made as a task wants them, in one exec
 * (step_ca state=copied, etcd_files). Each entry is compared first and only what differs is
 * touched: a directory's mode and owner mended, a file written whole (mode and owner from its
 * first byte, fs_ensure_content), a link replaced by a rename. Something of another kind at a
 * path is refused, never replaced; nothing is deleted.
 *
 * Options read from the module (lists of objects; each error names the entry, e.g. files[2]):
 *   directories  {path, mode, owner, group}
 *   files        {path, mode, owner, group, content, secret}
 *   links        {path, target}
 * group defaults to owner. With a base, paths are relative to it (without ".."); without one,
 * they are absolute.
 */
#ifndef ETCD_ANSIBLE_WANTED_H
#define ETCD_ANSIBLE_WANTED_H

#include "module.h"

#include <stdbool.h>

struct wanted_how {
	const char *base;     /* paths relative to it; NULL: absolute paths */
	bool base64;	      /* content is the file's bytes in base64 (what slurp returns) */
	bool all_secret;      /* every file's content is a secret (no diff, masked everywhere) */
	const char *keep_tag; /* a replaced file stays as FILE.<keep_tag>-STAMP; NULL: not kept */
};

/* Module `before` hook material: the secret files' contents become the module's secrets, so
 * they never reach an output (the echo of the args included). */
void wanted_hide_secrets(struct module *m, bool all_secret);

/* Directories first (a file's parent exists before it is written), then files, then links.
 * Sets result.changed, result.changed_paths (what differed, in that order) and result.kept (the
 * replaced files kept); in diff mode a diff per entry that differs (a secret file's shows no
 * content). Check mode touches nothing. -1 with the module failed on the first bad entry. */
int wanted_apply(struct module *m, const struct wanted_how *how);

#endif
