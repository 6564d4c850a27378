#include "error.h"

#include <stdio.h>
#include <string.h>

int error_set(struct error *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
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
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
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
