#include "wanted.h"

#include "b64.h"
#include "fs.h"
#include "buf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The most of a file's old text a diff shows; a larger one is named, not shown. */
#define DIFF_MAX (256u * 1024u)

void wanted_hide_secrets(struct module *m, bool all_secret)
{
	json_t *files = module_get(m, "files");

	for (size_t i = 0; i < json_array_size(files); i++) {
		json_t *entry = json_array_get(files, i);

		if (all_secret || json_is_true(json_object_get(entry, "secret")))
			module_add_secret(m, json_string_value(json_object_get(entry, "content")));
	}
}

/* One entry of `directories`, `files` or `links`, read and checked once, before anything is
 * touched: a bad entry is refused with nothing written, and owners are looked up (a read of
 * /etc/passwd and /etc/group each) and contents decoded only here. */
enum entry_list { DIRECTORIES, FILES, LINKS };
static const char *const LISTS[] = {"directories", "files", "links"};

struct entry {
	enum entry_list list;
	size_t index;
	char full[PATH_MAX];
	struct fs_wanted w;  /* directories and files */
	unsigned char *data; /* files: the bytes to write */
	size_t len;
	bool secret;
	const char *target; /* links (borrowed from the args) */
};

/* The contents may be keys: wiped before they are freed. */
static void free_entries(struct entry *entries, size_t n)
{
	for (size_t i = 0; i < n; i++)
		wipe_free(entries[i].data, entries[i].len);
	free(entries);
}

/* entry.path as a full path: under how->base, or absolute. */
static int entry_path(struct module *m, const struct wanted_how *how, const json_t *json,
		      struct entry *e)
{
	const char *option = LISTS[e->list],
		   *path = json_string_value(json_object_get(json, "path"));
	bool may_be_base = how->base && e->list == DIRECTORIES;

	if (how->base) {
		if (!path || (*path ? !fs_path_stays_inside(path) : !may_be_base))
			return module_fail(
			    m, "%s[%zu].path must be a path relative to path, without '..'", option,
			    e->index);
	} else if (!path || path[0] != '/' || !fs_path_stays_inside(path + 1)) {
		return module_fail(m, "%s[%zu].path must be an absolute path without '..'", option,
				   e->index);
	}
	if ((size_t)snprintf(e->full, sizeof(e->full), "%s%s%s", how->base ? how->base : "",
			     how->base && *path ? "/" : "", path) >= sizeof(e->full))
		return module_fail(m, "%s[%zu].path (%s): too long", option, e->index, path);
	return 0;
}

/* entry.mode, entry.owner and entry.group (default: the owner) as wanted. */
static int entry_wanted(struct module *m, const json_t *json, struct entry *e)
{
	const char *shown = json_string_value(json_object_get(json, "path"));
	const char *owner = json_string_value(json_object_get(json, "owner"));
	const char *group = json_string_value(json_object_get(json, "group"));
	char what[64];
	struct error err;

	snprintf(what, sizeof(what), "%s[%zu].mode", LISTS[e->list], e->index);
	if (!json_object_get(json, "mode"))
		return module_fail(m, "%s (%s) is required", what, shown);
	if (module_mode_value(m, what, json_object_get(json, "mode"), 0, &e->w.mode) < 0)
		return -1;
	if (!owner ||
	    fs_resolve_owner(owner, group ? group : owner, &e->w.uid, &e->w.gid, &err) < 0)
		return module_fail(m, "%s[%zu].owner (%s): %s", LISTS[e->list], e->index, shown,
				   owner ? err.msg : "missing");
	return 0;
}

/* entry.content as bytes: the text itself, or decoded from base64. */
static int entry_content(struct module *m, const struct wanted_how *how, const json_t *json,
			 struct entry *e)
{
	const char *content = json_string_value(json_object_get(json, "content"));
	struct error err;

	e->secret = how->all_secret || json_is_true(json_object_get(json, "secret"));
	if (content && !how->base64) {
		e->len = strlen(content);
		e->data = (unsigned char *)strdup(content);
		return e->data
			   ? 0
			   : module_fail(m, "files[%zu] (%s): out of memory", e->index, e->full);
	}
	if (!content || b64_decode(content, &e->data, &e->len, &err) < 0)
		return module_fail(m,
				   how->base64 ? "files[%zu].content (%s) must be the file's bytes "
						 "in base64 (what slurp returns)"
					       : "files[%zu].content (%s) must be text",
				   e->index, e->full);
	return 0;
}

static int entry_target(struct module *m, const json_t *json, struct entry *e)
{
	e->target = json_string_value(json_object_get(json, "target"));
	if (!e->target || !*e->target)
		return module_fail(m, "links[%zu].target (%s) is required", e->index, e->full);
	return 0;
}

static int read_entry(struct module *m, const struct wanted_how *how, const json_t *json,
		      struct entry *e)
{
	if (entry_path(m, how, json, e) < 0)
		return -1;
	if (e->list == LINKS)
		return entry_target(m, json, e);
	if (entry_wanted(m, json, e) < 0)
		return -1;
	return e->list == FILES ? entry_content(m, how, json, e) : 0;
}

static const char *kind_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return "directory";
	return S_ISREG(mode) ? "file" : "other";
}

/* "directory 0700 uid 0 gid 0" (what is at path, or with w: as wanted), or "absent", for a diff. */
static void describe(const char *path, const char *kind, const struct fs_wanted *w, char *buf,
		     size_t size)
{
	struct stat st;

	if (w)
		snprintf(buf, size, "%s %04o uid %u gid %u\n", kind, (unsigned)w->mode,
			 (unsigned)w->uid, (unsigned)w->gid);
	else if (lstat(path, &st) < 0)
		snprintf(buf, size, "absent\n");
	else
		snprintf(buf, size, "%s %04o uid %u gid %u\n", kind_of(st.st_mode),
			 (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid, (unsigned)st.st_gid);
}

static void diff_attributes(struct module *m, const char *path, const char *kind,
			    const struct fs_wanted *w)
{
	char before[128], after[128];

	describe(path, kind, NULL, before, sizeof(before));
	describe(path, kind, w, after, sizeof(after));
	module_add_diff(m, path, before, after);
}

/* What `mkdir -p` (and Ansible's file task) does for a directory's missing parents: root's,
 * 0755. Only the directory itself gets the entry's mode and owner. */
static int make_parents(const char *path, struct error *err)
{
	char parent[PATH_MAX];
	char *slash;

	snprintf(parent, sizeof(parent), "%s", path);
	slash = strrchr(parent, '/');
	if (!slash || slash == parent)
		return 0;
	*slash = '\0';
	return fs_mkdir_p(parent, 0755, err);
}

/* The diff of a file that differs: its text before and after, or only its mode and owner when
 * the content is the same; a secret's content is never shown. */
static void diff_file(struct module *m, const struct entry *e)
{
	const char *text = e->len ? (const char *)e->data : "";
	char *old = NULL;
	size_t old_len = 0;
	struct error err;

	if (e->secret) {
		module_add_diff(m, e->full, "(secret content not shown)\n",
				"(secret content not shown)\n");
		return;
	}
	if (fs_read_file(e->full, DIFF_MAX, &old, &old_len, &err) == -EFBIG)
		old = strdup("(the file before: larger than 256 KiB, not shown)\n");
	if (old && old_len == e->len && (e->len == 0 || memcmp(old, text, e->len) == 0))
		diff_attributes(m, e->full, "file", &e->w);
	else if (e->len == 0 || memchr(text, '\0', e->len) == NULL)
		module_add_diff(m, e->full, old ? old : "", text);
	free(old);
}

static void diff_link(struct module *m, const struct entry *e)
{
	char now[PATH_MAX], before[PATH_MAX + 16], after[PATH_MAX + 16];

	if (fs_read_link(e->full, now, sizeof(now)))
		snprintf(before, sizeof(before), "link to %s\n", now);
	else
		snprintf(before, sizeof(before), "absent\n");
	snprintf(after, sizeof(after), "link to %s\n", e->target);
	module_add_diff(m, e->full, before, after);
}

/* Each apply_* sets *differs and, unless in check mode, makes the entry as wanted. In diff mode
 * it first looks (check mode) and adds the diff from what is there before. */
static int apply_directory(struct module *m, const struct entry *e, bool *differs,
			   struct error *err)
{
	int rc = fs_ensure_dir(e->full, &e->w, true, differs, err);

	if (rc < 0 || !*differs)
		return rc;
	if (m->diff_mode)
		diff_attributes(m, e->full, "directory", &e->w);
	if (m->check_mode)
		return 0;
	rc = make_parents(e->full, err);
	return rc < 0 ? rc : fs_ensure_dir(e->full, &e->w, false, differs, err);
}

static int apply_file(struct module *m, const struct wanted_how *how, const struct entry *e,
		      bool *differs, char *kept, size_t kept_size, struct error *err)
{
	if (m->diff_mode) {
		int rc = fs_ensure_content(e->full, e->data, e->len, &e->w, NULL, true, differs,
					   kept, kept_size, err);

		if (rc < 0 || !*differs)
			return rc;
		diff_file(m, e);
	}
	return fs_ensure_content(e->full, e->data, e->len, &e->w, how->keep_tag, m->check_mode,
				 differs, kept, kept_size, err);
}

static int apply_link(struct module *m, const struct entry *e, bool *differs, struct error *err)
{
	if (m->diff_mode) {
		int rc = fs_ensure_link(e->full, e->target, true, differs, err);

		if (rc < 0 || !*differs)
			return rc;
		diff_link(m, e);
	}
	return fs_ensure_link(e->full, e->target, m->check_mode, differs, err);
}

static int apply_entry(struct module *m, const struct wanted_how *how, const struct entry *e,
		       json_t *changed, json_t *kept_list)
{
	char kept[PATH_MAX] = "";
	bool differs = false;
	struct error err;
	int rc;

	if (e->list == DIRECTORIES)
		rc = apply_directory(m, e, &differs, &err);
	else if (e->list == FILES)
		rc = apply_file(m, how, e, &differs, kept, sizeof(kept), &err);
	else
		rc = apply_link(m, e, &differs, &err);
	if (rc < 0)
		return module_fail(m, "%s[%zu]: %s", LISTS[e->list], e->index, err.msg);
	if (differs)
		json_array_append_new(changed, json_string(e->full));
	if (*kept)
		json_array_append_new(kept_list, json_string(kept));
	return 0;
}

/* All entries, in the order they are applied: directories (a file's parent exists before it
 * is written), files, links. NULL with the module failed on the first bad one. */
static struct entry *read_entries(struct module *m, const struct wanted_how *how, size_t *n)
{
	struct entry *entries;
	size_t used = 0;

	*n = 0;
	for (int list = DIRECTORIES; list <= LINKS; list++)
		*n += json_array_size(module_get(m, LISTS[list]));
	entries = calloc(*n ? *n : 1, sizeof(*entries));
	if (!entries) {
		module_fail(m, "out of memory for %zu entries", *n);
		return NULL;
	}
	for (int list = DIRECTORIES; list <= LINKS; list++) {
		json_t *array = module_get(m, LISTS[list]);

		for (size_t i = 0; i < json_array_size(array); i++, used++) {
			entries[used].list = (enum entry_list)list;
			entries[used].index = i;
			if (read_entry(m, how, json_array_get(array, i), &entries[used]) < 0) {
				free_entries(entries, used + 1);
				return NULL;
			}
		}
	}
	return entries;
}

int wanted_apply(struct module *m, const struct wanted_how *how)
{
	json_t *changed = json_array(), *kept = json_array();
	size_t n = 0;
	struct entry *entries = read_entries(m, how, &n);
	int rc = entries ? 0 : -1;

	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = apply_entry(m, how, &entries[i], changed, kept);
	if (entries)
		free_entries(entries, n);
	module_set_changed(m, json_array_size(changed) > 0);
	module_set(m, "changed_paths", changed);
	module_set(m, "kept", kept);
	return rc;
}
