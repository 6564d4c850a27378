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
#include <unistd.h>

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

/* entry.path as a full path into full (PATH_MAX): under how->base, or absolute. */
static int entry_path(struct module *m, const struct wanted_how *how, const char *option, size_t i,
		      const json_t *entry, char *full)
{
	const char *path = json_string_value(json_object_get(entry, "path"));
	bool may_be_base = how->base && strcmp(option, "directories") == 0;

	if (how->base) {
		if (!path || (*path ? !fs_path_stays_inside(path) : !may_be_base))
			return module_fail(
			    m, "%s[%zu].path must be a path relative to path, without '..'", option,
			    i);
	} else if (!path || path[0] != '/' || !fs_path_stays_inside(path + 1)) {
		return module_fail(m, "%s[%zu].path must be an absolute path without '..'", option,
				   i);
	}
	if ((size_t)snprintf(full, PATH_MAX, "%s%s%s", how->base ? how->base : "",
			     how->base && *path ? "/" : "", path) >= PATH_MAX)
		return module_fail(m, "%s[%zu].path (%s): too long", option, i, path);
	return 0;
}

/* entry.mode, entry.owner and entry.group (default: the owner) as wanted. */
static int entry_wanted(struct module *m, const char *option, size_t i, const json_t *entry,
			struct fs_wanted *w)
{
	const char *shown = json_string_value(json_object_get(entry, "path"));
	const char *owner = json_string_value(json_object_get(entry, "owner"));
	const char *group = json_string_value(json_object_get(entry, "group"));
	char what[64];
	struct error err;

	snprintf(what, sizeof(what), "%s[%zu].mode", option, i);
	if (!json_object_get(entry, "mode"))
		return module_fail(m, "%s (%s) is required", what, shown);
	if (module_mode_value(m, what, json_object_get(entry, "mode"), 0, &w->mode) < 0)
		return -1;
	if (!owner || fs_resolve_owner(owner, group ? group : owner, &w->uid, &w->gid, &err) < 0)
		return module_fail(m, "%s[%zu].owner (%s): %s", option, i, shown,
				   owner ? err.msg : "missing");
	return 0;
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

	if (!m->diff_mode)
		return;
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

static int ensure_directories(struct module *m, const struct wanted_how *how, json_t *changed)
{
	json_t *dirs = module_get(m, "directories");
	char full[PATH_MAX];
	struct fs_wanted w = {0};
	struct error err;
	bool differs;

	for (size_t i = 0; i < json_array_size(dirs); i++) {
		json_t *entry = json_array_get(dirs, i);

		if (entry_path(m, how, "directories", i, entry, full) < 0 ||
		    entry_wanted(m, "directories", i, entry, &w) < 0)
			return -1;
		if (fs_ensure_dir(full, &w, true, &differs, &err) < 0)
			return module_fail(m, "directories[%zu]: %s", i, err.msg);
		if (!differs)
			continue;
		diff_attributes(m, full, "directory", &w);
		if (!m->check_mode && (make_parents(full, &err) < 0 ||
				       fs_ensure_dir(full, &w, false, &differs, &err) < 0))
			return module_fail(m, "directories[%zu]: %s", i, err.msg);
		json_array_append_new(changed, json_string(full));
	}
	return 0;
}

/* The diff of a file that differs: its text before and after, or only its mode and owner when
 * the content is the same; a secret's content is never shown. */
static void diff_file(struct module *m, const char *path, const char *text, size_t len,
		      const struct fs_wanted *w, bool secret)
{
	char *old = NULL;
	size_t old_len = 0;
	struct error err;

	if (!m->diff_mode)
		return;
	if (secret) {
		module_add_diff(m, path, "(secret content not shown)\n",
				"(secret content not shown)\n");
		return;
	}
	if (!text || len == 0)
		text = "";
	if (fs_read_file(path, DIFF_MAX, &old, &old_len, &err) == -EFBIG)
		old = strdup("(the file before: larger than 256 KiB, not shown)\n");
	if (old && old_len == len && (len == 0 || memcmp(old, text, len) == 0))
		diff_attributes(m, path, "file", w);
	else if (len == 0 || memchr(text, '\0', len) == NULL)
		module_add_diff(m, path, old ? old : "", text);
	free(old);
}

/* entry.content as bytes: the text itself, or decoded from base64. */
static int entry_content(struct module *m, const struct wanted_how *how, size_t i,
			 const json_t *entry, const char *full, unsigned char **data, size_t *len)
{
	const char *content = json_string_value(json_object_get(entry, "content"));
	struct error err;

	*data = NULL;
	if (content && !how->base64) {
		*len = strlen(content);
		*data = (unsigned char *)strdup(content);
		return *data ? 0 : module_fail(m, "files[%zu] (%s): out of memory", i, full);
	}
	if (!content || b64_decode(content, data, len, &err) < 0)
		return module_fail(m,
				   how->base64 ? "files[%zu].content (%s) must be the file's bytes "
						 "in base64 (what slurp returns)"
					       : "files[%zu].content (%s) must be text",
				   i, full);
	return 0;
}

static int ensure_file(struct module *m, const struct wanted_how *how, size_t i,
		       const json_t *entry, json_t *changed, json_t *kept_list)
{
	bool secret = how->all_secret || json_is_true(json_object_get(entry, "secret"));
	unsigned char *data = NULL;
	char full[PATH_MAX], kept[PATH_MAX];
	size_t len = 0;
	struct fs_wanted w = {0};
	struct error err;
	bool differs;
	int rc;

	if (entry_path(m, how, "files", i, entry, full) < 0 ||
	    entry_wanted(m, "files", i, entry, &w) < 0 ||
	    entry_content(m, how, i, entry, full, &data, &len) < 0)
		return -1;
	rc = fs_ensure_content(full, data, len, &w, NULL, true, &differs, kept, sizeof(kept), &err);
	if (rc == 0 && differs) {
		diff_file(m, full, (const char *)data, len, &w, secret);
		if (!m->check_mode)
			rc = fs_ensure_content(full, data, len, &w, how->keep_tag, false, &differs,
					       kept, sizeof(kept), &err);
	}
	wipe_free(data, len);
	if (rc < 0)
		return module_fail(m, "files[%zu]: %s", i, err.msg);
	if (differs)
		json_array_append_new(changed, json_string(full));
	if (*kept)
		json_array_append_new(kept_list, json_string(kept));
	return 0;
}

static int entry_target(struct module *m, size_t i, const json_t *entry, const char *full,
			const char **target)
{
	*target = json_string_value(json_object_get(entry, "target"));
	if (!*target || !**target)
		return module_fail(m, "links[%zu].target (%s) is required", i, full);
	return 0;
}

static int ensure_links(struct module *m, const struct wanted_how *how, json_t *changed)
{
	json_t *links = module_get(m, "links");
	char full[PATH_MAX], now[PATH_MAX];
	struct error err;
	bool differs;

	for (size_t i = 0; i < json_array_size(links); i++) {
		json_t *entry = json_array_get(links, i);
		const char *target = NULL;

		if (entry_path(m, how, "links", i, entry, full) < 0 ||
		    entry_target(m, i, entry, full, &target) < 0)
			return -1;
		if (fs_ensure_link(full, target, true, &differs, &err) < 0)
			return module_fail(m, "links[%zu]: %s", i, err.msg);
		if (!differs)
			continue;
		if (m->diff_mode) {
			char before[PATH_MAX + 16], after[PATH_MAX + 16];
			ssize_t n = readlink(full, now, sizeof(now) - 1);

			now[n < 0 ? 0 : n] = '\0';
			snprintf(before, sizeof(before), n < 0 ? "absent\n" : "link to %s\n", now);
			snprintf(after, sizeof(after), "link to %s\n", target);
			module_add_diff(m, full, before, after);
		}
		if (!m->check_mode && fs_ensure_link(full, target, false, &differs, &err) < 0)
			return module_fail(m, "links[%zu]: %s", i, err.msg);
		json_array_append_new(changed, json_string(full));
	}
	return 0;
}

/* The options holding entries, in the order they are applied. */
static const char *const LISTS[] = {"directories", "files", "links"};

/* One entry of LISTS[list] as the apply steps will read it. */
static int check_entry(struct module *m, const struct wanted_how *how, int list, size_t i,
		       const json_t *entry)
{
	unsigned char *data = NULL;
	const char *target;
	char full[PATH_MAX];
	struct fs_wanted w = {0};
	size_t len = 0;
	int rc;

	if (entry_path(m, how, LISTS[list], i, entry, full) < 0)
		return -1;
	if (list == 2)
		return entry_target(m, i, entry, full, &target);
	rc = entry_wanted(m, LISTS[list], i, entry, &w);
	if (rc == 0 && list == 1) {
		rc = entry_content(m, how, i, entry, full, &data, &len);
		wipe_free(data, len);
	}
	return rc;
}

/* Every entry is checked before anything is touched: a bad one is refused with nothing
 * written, not after the entries before it were. */
static int check_entries(struct module *m, const struct wanted_how *how)
{
	for (int list = 0; list < 3; list++) {
		json_t *entries = module_get(m, LISTS[list]);

		for (size_t i = 0; i < json_array_size(entries); i++)
			if (check_entry(m, how, list, i, json_array_get(entries, i)) < 0)
				return -1;
	}
	return 0;
}

int wanted_apply(struct module *m, const struct wanted_how *how)
{
	json_t *files = module_get(m, "files"), *changed = json_array(), *kept = json_array();
	int rc = check_entries(m, how);

	if (rc == 0)
		rc = ensure_directories(m, how, changed);

	for (size_t i = 0; rc == 0 && i < json_array_size(files); i++)
		rc = ensure_file(m, how, i, json_array_get(files, i), changed, kept);
	if (rc == 0)
		rc = ensure_links(m, how, changed);
	module_set_changed(m, json_array_size(changed) > 0);
	module_set(m, "changed_paths", changed);
	module_set(m, "kept", kept);
	return rc;
}
