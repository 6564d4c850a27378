#include "proc.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int proc_run(char *const *argv, char *const *envp, long timeout_s, char *out, size_t size,
	     int *status, struct error *err)
{
	struct timespec start;
	size_t used = 0;
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return error_set(err, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return error_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY);

		if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(126);
		execve(argv[0], argv, envp);
		_exit(127);
	}
	close(pipefd[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
		char buf[1024];
		size_t keep;
		ssize_t n;

		if (seconds_since(&start) > (double)timeout_s) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		/* size > sizeof(buf): keep the last bytes, older ones slide out. */
		keep = used + (size_t)n > size - 1 ? size - 1 - (size_t)n : used;
		memmove(out, out + used - keep, keep);
		memcpy(out + keep, buf, (size_t)n);
		used = keep + (size_t)n;
	}
	out[used] = '\0';
	close(pipefd[0]);
	while (waitpid(pid, status, 0) < 0)
		if (errno != EINTR)
			return error_set(err, -errno, "waitpid: %s", strerror(errno));
	return 0;
}

const char *proc_find_tool(const char *given, const char *name, const char *const *defaults,
			   char *buf, size_t size)
{
	const char *path = getenv("PATH");

	if (given)
		return access(given, X_OK) == 0 ? given : NULL;
	for (const char *const *d = defaults; *d; d++)
		if (access(*d, X_OK) == 0)
			return *d;
	/* Then $PATH, for the tool's bare name. */
	for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		int n = snprintf(buf, size, "%.*s/%s", (int)len, p, name);

		if (len && n > 0 && (size_t)n < size && access(buf, X_OK) == 0)
			return buf;
		p = colon ? colon + 1 : NULL;
	}
	return NULL;
}
