/*
 * error: how utils report failure.
 *
 * Every util returns 0 (or a count) on success and a negative errno-style code on failure, and
 * fills a caller-provided `struct error` with a message meant for a human and a reason meant for
 * code. Only the protocol layer (module.c) turns an error into `failed` JSON. Messages never
 * contain secrets: callers name the option or file, never a value that may be secret.
 *
 * The reason is set where the error is born, from what the peer or the library said (http.c from
 * the CURLcode and the HTTP status, etcd.c from etcd's error, s3.c/kms.c from AWS's error code);
 * callers decide on the reason (or the code), never on the message text. error_set() sets
 * ERROR_UNKNOWN; error_set_reason() sets one; error_wrap() keeps it.
 */
#ifndef ETCD_ANSIBLE_ERROR_H
#define ETCD_ANSIBLE_ERROR_H

#include <stdarg.h>
#include <stdbool.h>

#define ERROR_MSG_MAX 1024

enum error_reason {
	ERROR_UNKNOWN = 0,	 /* not classified: only the code says more */
	ERROR_INVALID,		 /* bad input (an option, a file we were given) */
	ERROR_IO,		 /* local I/O, or a transfer broken after it started */
	ERROR_REFUSED,		 /* nobody answered at that address (refused, unreachable, DNS) */
	ERROR_TIMEOUT,		 /* no answer in time */
	ERROR_TLS,		 /* another TLS failure (handshake, our own key or certificate) */
	ERROR_TLS_UNTRUSTED,	 /* the peer's certificate does not verify against the CA */
	ERROR_TLS_NAME,		 /* the peer's certificate does not name the host we asked */
	ERROR_TLS_CLOSED,	 /* the peer ended the TLS session before answering: it refused
				  * our client certificate (or wanted one); TLS 1.3 says so late */
	ERROR_AUTH,		 /* the peer refused our credentials or permissions (401/403) */
	ERROR_NOT_FOUND,	 /* the peer says the thing does not exist */
	ERROR_EXISTS,		 /* the peer says the thing exists already */
	ERROR_PROTOCOL,		 /* the answer is not what the protocol says */
	ERROR_REMOTE,		 /* the peer answered with an error not classified here */
	ERROR_UNHEALTHY,	 /* etcd: the change would put the quorum at risk */
	ERROR_NO_LEADER,	 /* etcd: this member knows no leader (cut off from the quorum) */
	ERROR_LEARNER_NOT_READY, /* etcd: the learner has not caught up with the leader */
	ERROR_NOT_LEARNER,	 /* etcd: the member is a voter already */
	ERROR_TOO_MANY_LEARNERS, /* etcd: one learner at a time */
	ERROR_LEARNER_RPC,	 /* etcd: a learner serves no client RPC (ask another member) */
	ERROR_GATEWAY_CLOSED,	 /* etcd 3.4: the member's JSON gateway cannot reach its own gRPC
				  * server (with --client-cert-auth, a server certificate without
				  * clientAuth usage) */
};

struct error {
	char msg[ERROR_MSG_MAX];
	enum error_reason reason;
};

/* Formats the message into err (if not NULL), sets ERROR_UNKNOWN and returns code (expected to
 * be negative). */
int error_set(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* error_set with a reason. */
int error_set_reason(struct error *err, enum error_reason reason, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes an existing message: "context: previous message". Keeps the reason. Returns code. */
int error_wrap(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The reason's name in lower case ("tls_closed"), for logs and tests. */
const char *error_reason_name(enum error_reason reason);

/* true for the reasons that say TLS failed (ERROR_TLS*). */
bool error_is_tls(const struct error *err);

#endif
