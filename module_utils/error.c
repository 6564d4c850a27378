#include "error.h"

#include <stdio.h>
#include <string.h>

static void format(struct error *err, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void format(struct error *err, const char *fmt, va_list ap)
{
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
}

int error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	format(err, fmt, ap);
	va_end(ap);
	err->reason = ERROR_UNKNOWN;
	return code;
}

int error_set_reason(struct error *err, enum error_reason reason, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	format(err, fmt, ap);
	va_end(ap);
	err->reason = reason;
	return code;
}

int error_wrap(struct error *err, int code, const char *fmt, ...)
{
	char previous[ERROR_MSG_MAX];
	size_t used;
	va_list ap;

	if (!err)
		return code;
	memcpy(previous, err->msg, sizeof(previous));
	va_start(ap, fmt);
	format(err, fmt, ap);
	va_end(ap);
	/* Append ": previous" by hand: truncation of a long chain is fine, a warning is not. */
	used = strlen(err->msg);
	if (used + 2 < sizeof(err->msg)) {
		memcpy(err->msg + used, ": ", 2);
		used += 2;
		strncpy(err->msg + used, previous, sizeof(err->msg) - used - 1);
		err->msg[sizeof(err->msg) - 1] = '\0';
	}
	return code;
}

const char *error_reason_name(enum error_reason reason)
{
	static const char *const names[] = {
	    [ERROR_UNKNOWN] = "unknown",
	    [ERROR_INVALID] = "invalid",
	    [ERROR_IO] = "io",
	    [ERROR_REFUSED] = "refused",
	    [ERROR_TIMEOUT] = "timeout",
	    [ERROR_TLS] = "tls",
	    [ERROR_TLS_UNTRUSTED] = "tls_untrusted",
	    [ERROR_TLS_NAME] = "tls_name",
	    [ERROR_TLS_CLOSED] = "tls_closed",
	    [ERROR_AUTH] = "auth",
	    [ERROR_NOT_FOUND] = "not_found",
	    [ERROR_EXISTS] = "exists",
	    [ERROR_PROTOCOL] = "protocol",
	    [ERROR_REMOTE] = "remote",
	    [ERROR_UNHEALTHY] = "unhealthy",
	    [ERROR_NO_LEADER] = "no_leader",
	    [ERROR_LEARNER_NOT_READY] = "learner_not_ready",
	    [ERROR_NOT_LEARNER] = "not_learner",
	    [ERROR_TOO_MANY_LEARNERS] = "too_many_learners",
	    [ERROR_LEARNER_RPC] = "learner_rpc",
	    [ERROR_GATEWAY_CLOSED] = "gateway_closed",
	};

	if ((unsigned int)reason >= sizeof(names) / sizeof(names[0]) || !names[reason])
		return "unknown";
	return names[reason];
}

bool error_is_tls(const struct error *err)
{
	return err->reason == ERROR_TLS || err->reason == ERROR_TLS_UNTRUSTED ||
	       err->reason == ERROR_TLS_NAME || err->reason == ERROR_TLS_CLOSED;
}
