#include "units.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define USEC_PER_SEC 1000000ULL

/* Shown with every calendar or time span error, so a user sees the accepted shapes at once. */
#define CALENDAR_HINT                                                                              \
	"expected a shortcut (minutely, hourly, daily, weekly, monthly, quarterly, semiannually, " \
	"yearly) or \"[DOW] [[YYYY-]MM-DD] [HH:MM[:SS]] [UTC]\" where each field is *, a number, " \
	"a list a,b, a range a..b or a step a/n (see systemd.time(7))"
#define TIMESPAN_HINT                                                                              \
	"expected e.g. 30s, 5min, 1h 30min, 1.5d (units us, ms, s, min, h, d, w, M, y; "           \
	"see systemd.time(7))"

/* ---- small string helpers ----------------------------------------------------------------- */

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* An odd run of backslashes at the end of a line makes systemd join the next line to it; values
 * written verbatim may not end with one at all. */
static bool ends_with_backslash(const char *s)
{
	size_t len = strlen(s);

	return len && s[len - 1] == '\\';
}

static const char *skip_spaces(const char *s)
{
	while (*s == ' ')
		s++;
	return s;
}

/* Length of s without the spaces at its end. */
static size_t trimmed_len(const char *s)
{
	size_t len = strlen(s);

	while (len && s[len - 1] == ' ')
		len--;
	return len;
}

static bool starts_with_nocase(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* ---- unit names --------------------------------------------------------------------------- */

int units_check_name(const char *name, struct error *err)
{
	static const char valid[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    ":_.\\-@";
	size_t len = strlen(name);
	const char *dot = strrchr(name, '.');

	if (len == 0 || len > UNITS_NAME_MAX)
		return error_set(err, -EINVAL, "must be 1 to %d characters long", UNITS_NAME_MAX);
	if (strspn(name, valid) != len)
		return error_set(err, -EINVAL, "'%s' may only contain letters, digits and :_.\\-@",
				 name);
	if (dot && (strcmp(dot, ".service") == 0 || strcmp(dot, ".timer") == 0))
		return error_set(err, -EINVAL,
				 "'%s': give the name without the %s suffix (the "
				 "module writes NAME.service and NAME.timer)",
				 name, dot);
	/* systemd: '@' starts the instance part and may not be first; a trailing '@' would make
	 * NAME.service a template, which cannot be started (src/basic/unit-name.c). */
	if (name[0] == '@' || name[len - 1] == '@' || name[0] == '.')
		return error_set(err, -EINVAL,
				 "'%s' may not start with '@' or '.' nor end with '@'", name);
	return 0;
}

/* ---- time spans, as src/basic/time-util.c parse_time() reads them ------------------------- */

/* In systemd's order: it takes the first suffix the text starts with ("m" after "ms"). */
static const struct {
	const char *suffix;
	uint64_t usec;
} span_units[] = {
    {"seconds", USEC_PER_SEC},
    {"second", USEC_PER_SEC},
    {"sec", USEC_PER_SEC},
    {"s", USEC_PER_SEC},
    {"minutes", 60 * USEC_PER_SEC},
    {"minute", 60 * USEC_PER_SEC},
    {"min", 60 * USEC_PER_SEC},
    {"months", 2629800 * USEC_PER_SEC},
    {"month", 2629800 * USEC_PER_SEC},
    {"M", 2629800 * USEC_PER_SEC},
    {"msec", 1000},
    {"ms", 1000},
    {"m", 60 * USEC_PER_SEC},
    {"hours", 3600 * USEC_PER_SEC},
    {"hour", 3600 * USEC_PER_SEC},
    {"hr", 3600 * USEC_PER_SEC},
    {"h", 3600 * USEC_PER_SEC},
    {"days", 86400 * USEC_PER_SEC},
    {"day", 86400 * USEC_PER_SEC},
    {"d", 86400 * USEC_PER_SEC},
    {"weeks", 604800 * USEC_PER_SEC},
    {"week", 604800 * USEC_PER_SEC},
    {"w", 604800 * USEC_PER_SEC},
    {"years", 31557600 * USEC_PER_SEC},
    {"year", 31557600 * USEC_PER_SEC},
    {"y", 31557600 * USEC_PER_SEC},
    {"usec", 1},
    {"us", 1},
    {"\xce\xbcs", 1} /* μs, GREEK SMALL LETTER MU */,
    {"\xc2\xb5s", 1} /* µs, MICRO SIGN */,
};

/* The unit at p (default seconds); returns the text after it. */
static const char *span_unit(const char *p, uint64_t *multiplier)
{
	*multiplier = USEC_PER_SEC;
	for (size_t i = 0; i < sizeof(span_units) / sizeof(span_units[0]); i++) {
		size_t len = strlen(span_units[i].suffix);

		if (strncmp(p, span_units[i].suffix, len) == 0) {
			*multiplier = span_units[i].usec;
			return p + len;
		}
	}
	return p;
}

static int span_fail(struct error *err, const char *text, const char *why)
{
	return error_set(err, -EINVAL, "'%s' is not a time span systemd accepts: %s; %s", text, why,
			 TIMESPAN_HINT);
}

/* One "<number>[.<digits>] [unit]" term at *p, added to *total. */
static int span_term(const char **p, uint64_t *total, const char *text, struct error *err)
{
	const char *s = *p, *frac = NULL, *after;
	uint64_t n = 0, multiplier, k;

	if (!isdigit((unsigned char)*s))
		return span_fail(err, text, "expected a number");
	for (; isdigit((unsigned char)*s); s++) {
		uint64_t digit = (uint64_t)(*s - '0');

		if (n > ((uint64_t)LLONG_MAX - digit) / 10) /* systemd reads it with strtoll() */
			return span_fail(err, text, "number too large");
		n = n * 10 + digit;
	}
	if (*s == '.') {
		frac = ++s;
		if (!isdigit((unsigned char)*s))
			return span_fail(err, text, "expected digits after '.'");
		s += strspn(s, "0123456789");
	}
	after = span_unit(skip_spaces(s), &multiplier);
	/* systemd refuses "5x" here and "5 x" or "5mins" ("min" + "s") on the next term: say so
	 * now, with the better reason. */
	if ((after == s && *s) || (*after && *after != ' ' && !isdigit((unsigned char)*after)))
		return span_fail(err, text, "unknown unit");
	if (n >= UINT64_MAX / multiplier || (k = n * multiplier) >= UINT64_MAX - *total)
		return span_fail(err, text, "too large");
	*total += k;
	for (uint64_t m = multiplier / 10; frac && isdigit((unsigned char)*frac); frac++, m /= 10) {
		k = (uint64_t)(*frac - '0') * m;
		if (k >= UINT64_MAX - *total)
			return span_fail(err, text, "too large");
		*total += k;
	}
	*p = after;
	return 0;
}

int units_parse_timespan(const char *text, uint64_t *usec, struct error *err)
{
	const char *p = text;
	uint64_t total = 0;
	bool something = false;
	int rc;

	if (has_control(text))
		return span_fail(err, text, "control characters are not allowed");
	for (;;) {
		p = skip_spaces(p);
		if (!*p)
			break;
		rc = span_term(&p, &total, text, err);
		if (rc < 0)
			return rc;
		something = true;
	}
	if (!something)
		return span_fail(err, text, "it is empty");
	*usec = total;
	return 0;
}

/* ---- calendar events, as src/shared/calendarspec.c reads them ----------------------------- */

/* systemd refuses a component with more than CALENDARSPEC_COMPONENTS_MAX + 1 values. */
#define CAL_VALUES_MAX 241
#define CAL_MIN_YEAR 1970
#define CAL_MAX_YEAR 2199

struct cal_value {
	int start, stop, repeat; /* stop -1: no range; repeat 0: no step */
};

struct cal_field {
	bool any; /* "*" */
	size_t count;
	struct cal_value values[CAL_VALUES_MAX];
};

struct cal_spec {
	bool end_of_month; /* "~": days count back from the end of the month */
	struct cal_field year, month, day, hour, minute, second; /* second is in µs */
};

struct cal_parser {
	const char *p;
	const char *why; /* what went wrong, for the message */
};

static int cal_fail(struct cal_parser *cp, const char *why)
{
	cp->why = why;
	return -EINVAL;
}

static void cal_const(struct cal_field *f, int value)
{
	f->any = false;
	f->count = 1;
	f->values[0] = (struct cal_value){.start = value, .stop = -1, .repeat = 0};
}

/* parse_fractional_part_u(6 digits): the µs part of "SS.ffffff", rounded like systemd. */
static int cal_fraction(struct cal_parser *cp, int *add)
{
	const char *s = cp->p;
	int value = 0, i;

	if (!isdigit((unsigned char)*s))
		return cal_fail(cp, "expected digits after '.'");
	for (i = 0; i < 6; i++) {
		value *= 10;
		if (isdigit((unsigned char)*s))
			value += *s++ - '0';
	}
	if (*s >= '5' && *s <= '9')
		value++;
	cp->p = s + strspn(s, "0123456789");
	*add = value;
	return 0;
}

/* parse_component_decimal: a number; for seconds, in µs with an optional fraction. */
static int cal_number(struct cal_parser *cp, bool usec, int *out)
{
	uint64_t value = 0;
	int add = 0;

	if (!isdigit((unsigned char)*cp->p))
		return cal_fail(cp, "expected a number or '*'");
	for (; isdigit((unsigned char)*cp->p); cp->p++) {
		value = value * 10 + (uint64_t)(*cp->p - '0');
		if (value > INT_MAX)
			return cal_fail(cp, "number too large");
	}
	if (usec) {
		value *= USEC_PER_SEC;
		/* One "." is a decimal point, ".." a range. */
		if (cp->p[0] == '.' && cp->p[1] != '.') {
			cp->p++;
			if (cal_fraction(cp, &add) < 0)
				return -EINVAL;
		}
		value += (uint64_t)add;
	}
	if (value > INT_MAX)
		return cal_fail(cp, "number too large");
	*out = (int)value;
	return 0;
}

/* prepend_component: "start[..stop][/repeat]". */
static int cal_value(struct cal_parser *cp, bool usec, struct cal_value *v)
{
	int start, stop = -1, repeat = 0;

	if (cal_number(cp, usec, &start) < 0)
		return -EINVAL;
	if (cp->p[0] == '.' && cp->p[1] == '.') {
		cp->p += 2;
		if (cal_number(cp, usec, &stop) < 0)
			return -EINVAL;
		repeat = usec ? (int)USEC_PER_SEC : 1;
	}
	if (*cp->p == '/') {
		cp->p++;
		if (cal_number(cp, usec, &repeat) < 0)
			return -EINVAL;
		if (repeat == 0)
			return cal_fail(cp, "a step of 0");
	} else if (start > INT_MAX - repeat) {
		return cal_fail(cp, "number too large");
	} else if (usec && stop >= 0 && start + repeat > stop) {
		return cal_fail(cp, "a range of seconds must span at least one second");
	}
	if (*cp->p && !strchr(" ,-~:", *cp->p))
		return cal_fail(cp, "unexpected character");
	*v = (struct cal_value){.start = start, .stop = stop, .repeat = repeat};
	return 0;
}

/* parse_chain: "*" or a comma-separated list of values. */
static int cal_field(struct cal_parser *cp, bool usec, struct cal_field *f)
{
	f->any = false;
	f->count = 0;
	if (*cp->p == '*') {
		cp->p++;
		if (usec) /* "*" seconds: every full second */
			f->values[f->count++] = (struct cal_value){0, -1, (int)USEC_PER_SEC};
		else
			f->any = true;
		return 0;
	}
	for (;;) {
		if (f->count == CAL_VALUES_MAX)
			return cal_fail(cp, "too many values in one field");
		if (cal_value(cp, usec, &f->values[f->count++]) < 0)
			return -EINVAL;
		if (*cp->p != ',')
			return 0;
		cp->p++;
	}
}

static const struct {
	const char *name;
	int nr;
} weekday_names[] = {
    {"Monday", 0},   {"Mon", 0},      {"Tuesday", 1}, {"Tue", 1},    {"Wednesday", 2},
    {"Wed", 2},	     {"Thursday", 3}, {"Thu", 3},     {"Friday", 4}, {"Fri", 4},
    {"Saturday", 5}, {"Sat", 5},      {"Sunday", 6},  {"Sun", 6},
};

/* The weekday at cp->p (0 = Monday) and moves past it; -ENOENT if none is there. */
static int cal_weekday(struct cal_parser *cp)
{
	for (size_t i = 0; i < sizeof(weekday_names) / sizeof(weekday_names[0]); i++) {
		size_t len = strlen(weekday_names[i].name);

		if (!starts_with_nocase(cp->p, weekday_names[i].name))
			continue;
		if (cp->p[len] && !strchr("-., ", cp->p[len]))
			return cal_fail(cp, "unknown weekday");
		cp->p += len;
		return weekday_names[i].nr;
	}
	return -ENOENT;
}

/* parse_weekdays: "Mon", "Mon,Wed", "Mon..Fri" (or "Mon-Fri"), then spaces. Optional. */
static int cal_weekdays(struct cal_parser *cp)
{
	int range_from = -1, day;

	for (bool first = true;; first = false) {
		day = cal_weekday(cp);
		if (day == -ENOENT) /* no (more) weekdays: the date comes next */
			return first ? 0 : cal_fail(cp, "expected a weekday");
		if (day < 0)
			return day;
		if (range_from > day)
			return cal_fail(cp, "a weekday range must go forward (Mon..Fri)");
		if (!*cp->p)
			return 0;
		if (*cp->p == ' ') {
			cp->p = skip_spaces(cp->p);
			return 0;
		}
		if (*cp->p == '.' || *cp->p == '-') {
			if (range_from >= 0 || (*cp->p == '.' && cp->p[1] != '.'))
				return cal_fail(cp, "bad weekday range");
			range_from = day;
			cp->p += *cp->p == '.' ? 2 : 1;
		} else if (*cp->p == ',') {
			range_from = -1;
			cp->p++;
		}
		/* A trailing comma is fine, an open range is not. */
		if (!*cp->p || *cp->p == ' ') {
			cp->p = skip_spaces(cp->p);
			return range_from < 0 ? 0 : cal_fail(cp, "open weekday range");
		}
	}
}

/* parse_date: "[YYYY-]MM-DD" with '~' for end of month; or nothing (a time follows). */
static int cal_date(struct cal_parser *cp, struct cal_spec *s)
{
	const char *start = cp->p;

	if (!*cp->p)
		return 0;
	if (*cp->p == '@')
		return cal_fail(cp, "\"@seconds\" timestamps are not supported");
	if (cal_field(cp, false, &s->year) < 0)
		return -EINVAL;
	if (!*cp->p || *cp->p == ':') { /* that was an hour */
		s->year.any = true;
		cp->p = start;
		return 0;
	}
	if (*cp->p != '-' && *cp->p != '~')
		return cal_fail(cp, "expected '-' between date fields");
	s->end_of_month = *cp->p++ == '~';
	if (cal_field(cp, false, &s->month) < 0)
		return -EINVAL;
	if (!*cp->p || *cp->p == ' ') { /* two fields: month and day */
		s->day = s->month;
		s->month = s->year;
		s->year.any = true;
		s->year.count = 0;
		cp->p = skip_spaces(cp->p);
		return 0;
	}
	if (s->end_of_month)
		return cal_fail(cp, "'~' must come right before the day");
	if (*cp->p != '-' && *cp->p != '~')
		return cal_fail(cp, "expected '-' between date fields");
	s->end_of_month = *cp->p++ == '~';
	if (cal_field(cp, false, &s->day) < 0)
		return -EINVAL;
	if (*cp->p && *cp->p != ' ')
		return cal_fail(cp, "unexpected text after the date");
	cp->p = skip_spaces(cp->p);
	return 0;
}

/* parse_calendar_time: "HH:MM[:SS[.ffffff]]", or nothing for 00:00:00. */
static int cal_time(struct cal_parser *cp, struct cal_spec *s)
{
	cal_const(&s->hour, 0);
	cal_const(&s->minute, 0);
	cal_const(&s->second, 0);
	if (!*cp->p)
		return 0;
	if (cal_field(cp, false, &s->hour) < 0)
		return -EINVAL;
	if (*cp->p != ':')
		return cal_fail(cp, "expected ':' after the hour");
	cp->p++;
	if (cal_field(cp, false, &s->minute) < 0)
		return -EINVAL;
	if (!*cp->p)
		return 0;
	if (*cp->p != ':')
		return cal_fail(cp, "expected ':' after the minute");
	cp->p++;
	if (cal_field(cp, true, &s->second) < 0)
		return -EINVAL;
	return *cp->p ? cal_fail(cp, "unexpected text after the time") : 0;
}

/* normalize_chain() then chain_valid() for one value: what systemd checks after parsing. */
static bool cal_value_valid(struct cal_value v, int from, int to, bool end_of_month)
{
	if (v.stop > v.start && v.repeat > 0)
		v.stop -= (v.stop - v.start) % v.repeat;
	if ((v.stop > v.start && v.repeat > 0 && v.start + v.repeat > v.stop) ||
	    v.start == v.stop) {
		v.repeat = 0;
		v.stop = -1;
	}
	if (end_of_month)
		to -= 3; /* no more than 28 days back from the end */
	if (v.start < from || v.start > to || v.repeat > to - from)
		return false;
	if (v.stop >= 0)
		return v.stop >= from && v.stop <= to && v.start + v.repeat <= v.stop;
	if (end_of_month)
		return v.start - v.repeat >= from;
	return v.start + v.repeat <= to;
}

static bool cal_field_valid(struct cal_field *f, int from, int to, bool end_of_month)
{
	for (size_t i = 0; !f->any && i < f->count; i++)
		if (!cal_value_valid(f->values[i], from, to, end_of_month))
			return false;
	return true;
}

/* fix_year: two-digit years, 70..99 → 19xx, 0..69 → 20xx. */
static int cal_full_year(int y)
{
	if (y >= 0 && y < 70)
		return y + 2000;
	if (y >= 70 && y < 100)
		return y + 1900;
	return y;
}

static int cal_check_ranges(struct cal_parser *cp, struct cal_spec *s)
{
	for (size_t i = 0; !s->year.any && i < s->year.count; i++) {
		s->year.values[i].start = cal_full_year(s->year.values[i].start);
		s->year.values[i].stop = cal_full_year(s->year.values[i].stop);
	}
	if (!cal_field_valid(&s->year, CAL_MIN_YEAR, CAL_MAX_YEAR, false))
		return cal_fail(cp, "year out of range 1970..2199");
	if (!cal_field_valid(&s->month, 1, 12, false))
		return cal_fail(cp, "month out of range 1..12 (or a step/range that never fits)");
	if (!cal_field_valid(&s->day, 1, 31, s->end_of_month && !s->day.any))
		return cal_fail(cp,
				"day out of range 1..31, 1..28 after '~' (or a bad step/range)");
	if (!cal_field_valid(&s->hour, 0, 23, false))
		return cal_fail(cp, "hour out of range 0..23 (or a step/range that never fits)");
	if (!cal_field_valid(&s->minute, 0, 59, false))
		return cal_fail(cp, "minute out of range 0..59 (or a step/range that never fits)");
	if (!cal_field_valid(&s->second, 0, 60 * (int)USEC_PER_SEC - 1, false))
		return cal_fail(cp, "second out of range 0..59 (or a step/range that never fits)");
	return 0;
}

static bool cal_is_shortcut(const char *text, size_t len)
{
	static const char *const shortcuts[] = {
	    "minutely",	     "hourly",	   "daily",	  "weekly",  "monthly",
	    "quarterly",     "yearly",	   "annually",	  "anually", "semiannually",
	    "semi-annually", "biannually", "bi-annually", NULL,
	};

	for (const char *const *s = shortcuts; *s; s++)
		if (strlen(*s) == len && strncasecmp(text, *s, len) == 0)
			return true;
	return false;
}

static int cal_parse(struct cal_parser *cp, struct cal_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->year.any = s->month.any = s->day.any = true;
	if (cal_weekdays(cp) < 0 || cal_date(cp, s) < 0 || cal_time(cp, s) < 0)
		return -EINVAL;
	return cal_check_ranges(cp, s);
}

int units_check_calendar(const char *text, struct error *err)
{
	const char *start = skip_spaces(text);
	size_t len = trimmed_len(start);
	struct cal_parser cp = {0};
	struct cal_spec *spec = NULL;
	char *body = NULL;
	int rc = 0;

	if (has_control(text))
		return error_set(err, -EINVAL, "'%s' contains control characters", text);
	/* systemd strips " UTC" (any case) first; other zones depend on the target's tzdata. */
	if (len >= 4 && strncasecmp(start + len - 4, " UTC", 4) == 0)
		len -= 4;
	body = strndup(start, len);
	spec = malloc(sizeof(*spec));
	if (!body || !spec) {
		rc = error_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (len == 0) {
		rc = error_set(err, -EINVAL, "'%s' is empty; %s", text, CALENDAR_HINT);
		goto out;
	}
	if (cal_is_shortcut(body, len))
		goto out;
	cp.p = body;
	if (cal_parse(&cp, spec) < 0)
		rc = error_set(err, -EINVAL,
			       "'%s' is not a calendar event systemd accepts: %s%s%.20s%s"
			       "%s; %s",
			       text, cp.why, *cp.p ? " at \"" : "", cp.p, *cp.p ? "\"" : "",
			       isalpha((unsigned char)*skip_spaces(cp.p))
				   ? " (UTC is the only time zone accepted)"
				   : "",
			       CALENDAR_HINT);
out:
	free(spec);
	free(body);
	return rc;
}

/* ---- environment and ExecStart= quoting --------------------------------------------------- */

int units_check_env_name(const char *name, struct error *err)
{
	static const char rest[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";

	if (!*name || isdigit((unsigned char)*name) || strspn(name, rest) != strlen(name))
		return error_set(err, -EINVAL,
				 "'%.64s' is not a variable name: use "
				 "[A-Za-z_][A-Za-z0-9_]*",
				 name);
	return 0;
}

/*
 * Writes s for a systemd double-quoted word (extract_first_word with EXTRACT_UNQUOTE |
 * EXTRACT_CUNESCAPE): C escapes for backslash, quote and control characters; then specifiers
 * ("%%" → "%", expanded per word after unquoting) and, in ExecStart= only, "$$" → "$" (expanded
 * when the command runs, src/basic/env-util.c replace_env).
 */
static void put_escaped(FILE *f, const char *s, bool dollar)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\\' || c == '"')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c == '\r')
			fputs("\\r", f);
		else if (c < ' ' || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else if (c == '%')
			fputs("%%", f);
		else if (c == '$' && dollar)
			fputs("$$", f);
		else
			fputc(c, f);
	}
}

/* Arguments made only of these need no quotes (";" alone is a command separator, so not it). */
static bool is_bare_word(const char *s)
{
	static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				   "/_.,:=+@%$-";

	return *s && strspn(s, safe) == strlen(s);
}

/* Runs put(f, ctx) into a fresh string; NULL on ENOMEM. */
static char *render_string(void (*put)(FILE *f, const void *ctx), const void *ctx)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bool ok;

	if (!f)
		return NULL;
	put(f, ctx);
	ok = !ferror(f);
	if (fclose(f) != 0 || !ok) {
		free(text);
		return NULL;
	}
	return text;
}

static void put_exec_arg(FILE *f, const char *arg)
{
	bool quote = !is_bare_word(arg);

	if (quote)
		fputc('"', f);
	put_escaped(f, arg, true);
	if (quote)
		fputc('"', f);
}

static void put_exec_arg_ctx(FILE *f, const void *arg)
{
	put_exec_arg(f, arg);
}

char *units_quote_exec_arg(const char *arg)
{
	return render_string(put_exec_arg_ctx, arg);
}

/* Environment= takes no "$" expansion: "$" is literal there (systemd.exec(5)). */
static void put_env(FILE *f, const struct unit_env *e)
{
	fputc('"', f);
	put_escaped(f, e->name, false);
	fputc('=', f);
	put_escaped(f, e->value, false);
	fputc('"', f);
}

static void put_env_ctx(FILE *f, const void *e)
{
	put_env(f, e);
}

char *units_quote_env(const char *name, const char *value)
{
	struct unit_env e = {.name = name, .value = value};

	return render_string(put_env_ctx, &e);
}

/* ---- whole-unit checks -------------------------------------------------------------------- */

/* Free text written after "Key=": one line, and specifiers escaped by the renderer. */
static int check_line(const char *option, const char *value, struct error *err)
{
	if (value && (has_control(value) || ends_with_backslash(value)))
		return error_set(err, -EINVAL,
				 "%s: must be one line without control characters and "
				 "must not end with a backslash",
				 option);
	return 0;
}

static int check_span(const char *option, const char *value, bool infinity_ok, struct error *err)
{
	uint64_t usec;
	int rc;

	if (!value)
		return 0;
	if (infinity_ok && strcmp(value, "infinity") == 0)
		return 0;
	rc = units_parse_timespan(value, &usec, err);
	return rc < 0 ? error_wrap(err, rc, "%s", option) : 0;
}

/* config_parse_exec: argv[0] must be an absolute path without quotes or control characters. */
static int check_exec(const struct timer_unit *u, struct error *err)
{
	const char *path = u->exec_count ? u->exec[0] : NULL;

	if (!path || !*path)
		return error_set(err, -EINVAL,
				 "exec: give the command as a non-empty list, "
				 "e.g. ['/usr/bin/etcdctl', 'snapshot', 'save', '/tmp/x.db']");
	if (path[0] != '/' || path[strlen(path) - 1] == '/' || strlen(path) >= PATH_MAX)
		return error_set(err, -EINVAL,
				 "exec: the command '%s' must be an absolute path to "
				 "a file (systemd does not search PATH for us)",
				 path);
	if (strpbrk(path, "\"'\\\x7f") || has_control(path))
		return error_set(err, -EINVAL,
				 "exec: the command path '%s' may not contain quotes, "
				 "backslashes or control characters (systemd refuses them)",
				 path);
	return 0;
}

static int check_account(const char *option, const char *name, struct error *err)
{
	static const char valid[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				    "_.-";

	if (name && (!*name || *name == '-' || *name == '.' || strlen(name) > 256 ||
		     strspn(name, valid) != strlen(name)))
		return error_set(err, -EINVAL, "%s: '%.64s' is not a valid user or group name",
				 option, name);
	return 0;
}

static int check_absolute_path(const char *option, const char *dir, struct error *err)
{
	if (!dir)
		return 0;
	/* systemd refuses a path that is not absolute or not normalized ("..") */
	if (dir[0] != '/' || strstr(dir, "/../") ||
	    (strlen(dir) >= 3 && strcmp(dir + strlen(dir) - 3, "/..") == 0))
		return error_set(err, -EINVAL, "%s: '%s' must be an absolute path without '..'",
				 option, dir);
	return check_line(option, dir, err);
}

static int check_log_file(const char *path, struct error *err)
{
	/* StandardOutput=append:PATH ends at the first space: there is no way to quote one. */
	if (path && strpbrk(path, " \t"))
		return error_set(err, -EINVAL, "log_file: '%s' must not contain spaces", path);
	return check_absolute_path("log_file", path, err);
}

static int check_env(const struct timer_unit *u, struct error *err)
{
	for (size_t i = 0; i < u->env_count; i++) {
		int rc = units_check_env_name(u->env[i].name, err);

		if (rc < 0)
			return error_wrap(err, rc, "environment");
	}
	return 0;
}

static int check_timing(const struct timer_unit *u, struct error *err)
{
	int rc;

	if (!u->on_calendar_count && !u->on_boot_sec && !u->on_unit_active_sec)
		return error_set(err, -EINVAL,
				 "give at least one of on_calendar, on_boot_sec, "
				 "on_unit_active_sec: a timer without them never fires");
	for (size_t i = 0; i < u->on_calendar_count; i++) {
		rc = units_check_calendar(u->on_calendar[i], err);
		if (rc < 0)
			return error_wrap(err, rc, "on_calendar");
	}
	if ((rc = check_span("on_boot_sec", u->on_boot_sec, false, err)) < 0 ||
	    (rc = check_span("on_unit_active_sec", u->on_unit_active_sec, false, err)) < 0 ||
	    (rc = check_span("randomized_delay_sec", u->randomized_delay_sec, false, err)) < 0 ||
	    (rc = check_span("accuracy_sec", u->accuracy_sec, false, err)) < 0 ||
	    (rc = check_span("timeout_start_sec", u->timeout_start_sec, true, err)) < 0)
		return rc;
	return 0;
}

/* IOSchedulingClass= (systemd.exec(5), ioprio_class_from_string): a name or 0..3. */
static int check_io_class(const char *value, struct error *err)
{
	static const char *const names[] = {"none", "realtime", "best-effort", "idle", "0",
					    "1",    "2",	"3",	       NULL};

	if (!value)
		return 0;
	for (const char *const *n = names; *n; n++)
		if (strcmp(value, *n) == 0)
			return 0;
	return error_set(err, -EINVAL,
			 "io_scheduling_class: '%.64s' is not none, realtime, best-effort or idle",
			 value);
}

/* MemoryMax= (systemd.resource-control(5), parse_size base 1024 / parse_permille): digits with
 * an optional K, M, G or T, a percentage, or "infinity". */
static int check_memory_max(const char *value, struct error *err)
{
	const char *p = value;

	if (!value || strcmp(value, "infinity") == 0)
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p != value && (*p == '\0' || (strchr("KMGT%", *p) && p[1] == '\0')))
		return 0;
	return error_set(err, -EINVAL,
			 "memory_max: '%.64s' is not a size like 2G, 512M, 50%% or infinity",
			 value);
}

int units_check(const struct timer_unit *u, struct error *err)
{
	int rc;

	rc = units_check_name(u->name, err);
	if (rc < 0)
		return error_wrap(err, rc, "name");
	if ((rc = check_exec(u, err)) < 0 || (rc = check_env(u, err)) < 0 ||
	    (rc = check_timing(u, err)) < 0 ||
	    (rc = check_absolute_path("working_directory", u->working_directory, err)) < 0 ||
	    (rc = check_log_file(u->log_file, err)) < 0 ||
	    (rc = check_line("description", u->description, err)) < 0 ||
	    (rc = check_account("user", u->user, err)) < 0 ||
	    (rc = check_account("group", u->group, err)) < 0)
		return rc;
	if (u->has_nice && (u->nice < -20 || u->nice > 19))
		return error_set(err, -EINVAL, "nice: %d is outside -20..19", u->nice);
	if ((rc = check_io_class(u->io_scheduling_class, err)) < 0 ||
	    (rc = check_memory_max(u->memory_max, err)) < 0)
		return rc;
	return 0;
}

/* ---- rendering ---------------------------------------------------------------------------- */

/* "Key=value" with specifiers escaped; value taken verbatim otherwise (checked one line). */
static void put_setting(FILE *f, const char *key, const char *value)
{
	if (!value)
		return;
	fprintf(f, "%s=", key);
	for (const char *s = value; *s; s++) {
		if (*s == '%')
			fputc('%', f);
		fputc(*s, f);
	}
	fputc('\n', f);
}

/* Time values: systemd strips surrounding spaces itself; we do too, so the file is tidy. */
static void put_trimmed(FILE *f, const char *key, const char *value)
{
	const char *start;

	if (!value)
		return;
	start = skip_spaces(value);
	fprintf(f, "%s=%.*s\n", key, (int)trimmed_len(start), start);
}

static void put_description(FILE *f, const struct timer_unit *u)
{
	if (!u->description)
		return;
	fputs("[Unit]\n", f);
	put_setting(f, "Description", u->description);
	fputc('\n', f);
}

/* One Environment= line per variable, by name: a handful of names, so pick the next one in order
 * each round instead of allocating a sorted copy. Names are unique (they come from a dict). */
static void put_environment(FILE *f, const struct timer_unit *u)
{
	const char *last = NULL;

	for (size_t done = 0; done < u->env_count; done++) {
		const struct unit_env *next = NULL;

		for (size_t i = 0; i < u->env_count; i++) {
			const char *name = u->env[i].name;

			if ((!last || strcmp(name, last) > 0) &&
			    (!next || strcmp(name, next->name) < 0))
				next = &u->env[i];
		}
		if (!next)
			return;
		fputs("Environment=", f);
		put_env(f, next);
		fputc('\n', f);
		last = next->name;
	}
}

static void put_service(FILE *f, const void *ctx)
{
	const struct timer_unit *u = ctx;

	fprintf(f, "%s\n", UNITS_HEADER);
	put_description(f, u);
	fputs("[Service]\nType=oneshot\n", f);
	put_setting(f, "User", u->user);
	put_setting(f, "Group", u->group);
	put_setting(f, "WorkingDirectory", u->working_directory);
	put_environment(f, u);
	if (u->has_nice)
		fprintf(f, "Nice=%d\n", u->nice);
	put_setting(f, "IOSchedulingClass", u->io_scheduling_class);
	put_setting(f, "MemoryMax", u->memory_max);
	put_trimmed(f, "TimeoutStartSec", u->timeout_start_sec);
	if (u->log_file) /* systemd >= 240 */
		fprintf(f, "StandardOutput=append:%s\nStandardError=append:%s\n", u->log_file,
			u->log_file);
	fputs("ExecStart=", f);
	for (size_t i = 0; i < u->exec_count; i++) {
		if (i)
			fputc(' ', f);
		put_exec_arg(f, u->exec[i]);
	}
	fputc('\n', f);
}

static void put_timer(FILE *f, const void *ctx)
{
	const struct timer_unit *u = ctx;

	fprintf(f, "%s\n", UNITS_HEADER);
	put_description(f, u);
	fputs("[Timer]\n", f);
	for (size_t i = 0; i < u->on_calendar_count; i++)
		put_trimmed(f, "OnCalendar", u->on_calendar[i]);
	put_trimmed(f, "OnBootSec", u->on_boot_sec);
	put_trimmed(f, "OnUnitActiveSec", u->on_unit_active_sec);
	put_trimmed(f, "RandomizedDelaySec", u->randomized_delay_sec);
	put_trimmed(f, "AccuracySec", u->accuracy_sec);
	/* Persistent= only acts on OnCalendar=; elsewhere its stamp file would only make a
	 * re-created timer skip OnBootSec= (systemd treats a stamped timer as having fired,
	 * src/core/timer.c). */
	if (u->on_calendar_count)
		fprintf(f, "Persistent=%s\n", u->persistent ? "true" : "false");
	fprintf(f, "Unit=%s.service\n\n", u->name);
	fputs("[Install]\nWantedBy=timers.target\n", f);
}

static int render(void (*put)(FILE *f, const void *ctx), const struct timer_unit *u, char **out,
		  struct error *err)
{
	*out = render_string(put, u);
	return *out ? 0
		    : error_set(err, -ENOMEM, "out of memory rendering the units of %s", u->name);
}

int units_render_service(const struct timer_unit *u, char **out, struct error *err)
{
	return render(put_service, u, out, err);
}

int units_render_timer(const struct timer_unit *u, char **out, struct error *err)
{
	return render(put_timer, u, out, err);
}

/* One word of a command line starting at *p; advances *p. Returns the word or NULL on error. */
static char *next_word(const char **p, struct error *err)
{
	const char *s = *p;
	size_t len = strlen(s);
	char *word = malloc(len + 1), *w = word, quote = 0;

	if (!word) {
		error_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	for (; *s && (quote || !isspace((unsigned char)*s)); s++) {
		if (quote == *s) {
			quote = 0;
		} else if (!quote && (*s == '\'' || *s == '"')) {
			quote = *s;
		} else if (*s == '\\' && quote != '\'' && s[1]) {
			*w++ = *++s;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
	*p = s;
	if (quote) {
		free(word);
		error_set(err, -EINVAL, "unbalanced %c quote", quote);
		return NULL;
	}
	return word;
}

int units_split_command(const char *line, json_t *words, struct error *err)
{
	const char *p = line;

	for (;;) {
		char *word;

		while (isspace((unsigned char)*p))
			p++;
		if (!*p)
			return 0;
		word = next_word(&p, err);
		if (!word)
			return -EINVAL;
		json_array_append_new(words, json_string(word));
		free(word);
	}
}
