/*
 * error: how utils report failure.
 *
 * Every util returns 0 (or a count) on success and a negative errno-style code on failure, and
 * fills a caller-provided `struct error` with a message meant for a human. Only the protocol layer
 * (module.c) turns an error into `failed` JSON. Messages never contain secrets: callers name the
 * option or file, never a value that may be secret.
 */
#ifndef ETCD_ANSIBLE_ERROR_H
#define ETCD_ANSIBLE_ERROR_H

#include <stdarg.h>

#define ERROR_MSG_MAX 1024

struct error {
	char msg[ERROR_MSG_MAX];
};

/* Formats the message into err (if not NULL) and returns code (expected to be negative). */
int error_set(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "context: previous message". Returns code. */
int error_wrap(struct error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
