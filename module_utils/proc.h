/*
 * proc: runs a tool (no shell) with a timeout and captures what it printed.
 *
 * The child gets /dev/null as stdin and one pipe for stdout+stderr; only the last size-1 bytes
 * are kept (the end of a tool's output says what went wrong). Past the timeout the child is
 * killed (SIGKILL) and reaped. Nothing is allocated: out is the caller's buffer.
 */
#ifndef ETCD_ANSIBLE_PROC_H
#define ETCD_ANSIBLE_PROC_H

#include "error.h"

#include <stddef.h>

/*
 * Runs argv[0] (an absolute path) with argv and exactly the environment envp; out (size > 1024)
 * gets the NUL-terminated tail of its output, *status its waitpid status. Returns 0 once the
 * child was reaped (whatever its exit status), or a negative errno when it could not be run.
 */
int proc_run(char *const *argv, char *const *envp, long timeout_s, char *out, size_t size,
	     int *status, struct error *err);

/*
 * An executable: `given` if set (NULL when it is not executable), else the first of defaults
 * (NULL-terminated) that is, else `name` in each $PATH directory (written into buf). Returns a
 * borrowed pointer (given, a default, or buf), or NULL when none is executable.
 */
const char *proc_find_tool(const char *given, const char *name, const char *const *defaults,
			   char *buf, size_t size);

#endif
