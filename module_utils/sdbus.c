#include "sdbus.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>
#include <unistd.h>

#define SYSTEMD_DEST "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT_PREFIX "/org/freedesktop/systemd1/unit"
#define PRIVATE_SOCKET "unix:path=/run/systemd/private"

/* Reload re-reads every unit file; systemctl gives daemon-reload minutes, not the 25 s default. */
#define CALL_TIMEOUT_USEC (120 * SDBUS_USEC_PER_SEC)

struct sdbus {
	sd_bus *bus;
	bool direct;	 /* systemd's private socket: no bus daemon, so messages carry no sender */
	bool subscribed; /* Manager.Subscribe() done: systemd sends us job signals */
};

/* Fills err with "what: org.freedesktop.Error.Name: message" (or strerror without a bus error). */
static int bus_fail(struct error *err, int rc, const sd_bus_error *e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int bus_fail(struct error *err, int rc, const sd_bus_error *e, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (e && sd_bus_error_is_set(e))
		return error_set(err, rc, "%s: %s: %s", what, e->name,
				 e->message ? e->message : "(no message)");
	return error_set(err, rc, "%s: %s", what, strerror(rc < 0 ? -rc : rc));
}

static uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SDBUS_USEC_PER_SEC + (uint64_t)ts.tv_nsec / 1000;
}

/* ---- connection --------------------------------------------------------------------------- */

static int open_private(sd_bus **out)
{
	sd_bus *bus = NULL;
	int rc;

	rc = sd_bus_new(&bus);
	if (rc >= 0)
		rc = sd_bus_set_address(bus, PRIVATE_SOCKET);
	if (rc >= 0)
		rc = sd_bus_start(bus);
	if (rc < 0) {
		sd_bus_unref(bus);
		return rc;
	}
	*out = bus;
	return 0;
}

/* A cheap call that only systemd answers: tells "no systemd" apart from later failures. */
static int ping_systemd(struct sdbus *b, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *version = NULL;
	int rc;

	rc = sd_bus_get_property_string(b->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
					"Version", &e, &version);
	if (rc < 0)
		bus_fail(err, rc, &e,
			 "systemd does not answer on the D-Bus system bus (is systemd "
			 "PID 1 on this host?)");
	free(version);
	sd_bus_error_free(&e);
	return rc < 0 ? rc : 0;
}

int sdbus_open(struct sdbus **out, struct error *err)
{
	struct sdbus *b = calloc(1, sizeof(*b));
	int rc = 0;

	*out = NULL;
	if (!b)
		return error_set(err, -ENOMEM, "out of memory");
	/* As root, systemctl talks to systemd's own socket first: it answers without dbus-daemon
	 * (minimal images) and during early boot. Anyone else goes through the system bus. */
	if (geteuid() == 0 && open_private(&b->bus) == 0) {
		b->direct = true;
	} else {
		rc = sd_bus_open_system(&b->bus);
		if (rc < 0) {
			error_set(err, rc,
				  "cannot reach systemd: neither %s nor the D-Bus system bus "
				  "answered (%s); is systemd running as PID 1 on this host?",
				  PRIVATE_SOCKET + strlen("unix:path="), strerror(-rc));
			goto out;
		}
		rc = ping_systemd(b, err);
		if (rc < 0)
			goto out;
	}
	sd_bus_set_method_call_timeout(b->bus, CALL_TIMEOUT_USEC);
	*out = b;
	b = NULL;
out:
	sdbus_free(b);
	return rc;
}

void sdbus_free(struct sdbus *bus)
{
	if (!bus)
		return;
	sd_bus_flush_close_unref(bus->bus);
	free(bus);
}

/* ---- Manager methods ---------------------------------------------------------------------- */

int sdbus_reload(struct sdbus *bus, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int rc;

	rc = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Reload", &e,
				NULL, NULL);
	if (rc < 0)
		bus_fail(err, rc, &e, "daemon-reload");
	sd_bus_error_free(&e);
	return rc < 0 ? rc : 0;
}

int sdbus_reset_failed_unit(struct sdbus *bus, const char *unit, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int rc;

	rc = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER,
				"ResetFailedUnit", &e, NULL, "s", unit);
	if (rc < 0)
		bus_fail(err, rc, &e, "reset-failed %s", unit);
	sd_bus_error_free(&e);
	return rc < 0 ? rc : 0;
}

/* Counts the a(sss) changes list of an (En|Dis)ableUnitFiles reply. */
static int count_changes(sd_bus_message *reply)
{
	const char *type, *from, *to;
	int rc, n = 0;

	rc = sd_bus_message_enter_container(reply, 'a', "(sss)");
	if (rc < 0)
		return rc;
	while ((rc = sd_bus_message_read(reply, "(sss)", &type, &from, &to)) > 0)
		n++;
	if (rc < 0)
		return rc;
	rc = sd_bus_message_exit_container(reply);
	return rc < 0 ? rc : n;
}

static int append_names(sd_bus_message *m, const char *const *files, size_t count)
{
	int rc = sd_bus_message_open_container(m, 'a', "s");

	for (size_t i = 0; rc >= 0 && i < count; i++)
		rc = sd_bus_message_append(m, "s", files[i]);
	if (rc >= 0)
		rc = sd_bus_message_close_container(m);
	return rc;
}

/* EnableUnitFiles(as, b runtime, b force) → (b carries_install_info, a(sss) changes);
 * DisableUnitFiles(as, b runtime) → a(sss) changes. */
static int unit_files_call(struct sdbus *bus, bool enable, const char *const *files, size_t count,
			   struct error *err)
{
	const char *method = enable ? "EnableUnitFiles" : "DisableUnitFiles";
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	int rc, carries_install_info;

	rc = sd_bus_message_new_method_call(bus->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH,
					    SYSTEMD_MANAGER, method);
	if (rc >= 0)
		rc = append_names(m, files, count);
	if (rc >= 0)
		rc = enable ? sd_bus_message_append(m, "bb", 0, 1)
			    : sd_bus_message_append(m, "b", 0);
	if (rc < 0) {
		bus_fail(err, rc, NULL, "%s: building the call", method);
		goto out;
	}
	rc = sd_bus_call(bus->bus, m, 0, &e, &reply);
	if (rc < 0) {
		bus_fail(err, rc, &e, "%s %s", method, count ? files[0] : "");
		goto out;
	}
	if (enable && (rc = sd_bus_message_read(reply, "b", &carries_install_info)) < 0) {
		bus_fail(err, rc, NULL, "%s: reading the reply", method);
		goto out;
	}
	rc = count_changes(reply);
	if (rc < 0)
		bus_fail(err, rc, NULL, "%s: reading the reply", method);
out:
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	sd_bus_error_free(&e);
	return rc;
}

int sdbus_enable_unit_files(struct sdbus *bus, const char *const *files, size_t count,
			    struct error *err)
{
	return unit_files_call(bus, true, files, count, err);
}

int sdbus_disable_unit_files(struct sdbus *bus, const char *const *files, size_t count,
			     struct error *err)
{
	return unit_files_call(bus, false, files, count, err);
}

int sdbus_clean_unit(struct sdbus *bus, const char *unit, const char *const *what, size_t count,
		     struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	int rc;

	rc = sd_bus_message_new_method_call(bus->bus, &m, SYSTEMD_DEST, SYSTEMD_PATH,
					    SYSTEMD_MANAGER, "CleanUnit");
	if (rc >= 0)
		rc = sd_bus_message_append(m, "s", unit);
	if (rc >= 0)
		rc = append_names(m, what, count);
	if (rc < 0) {
		bus_fail(err, rc, NULL, "CleanUnit: building the call");
		goto out;
	}
	rc = sd_bus_call(bus->bus, m, 0, &e, NULL);
	if (rc < 0)
		bus_fail(err, rc, &e, "clean %s", unit);
out:
	sd_bus_message_unref(m);
	sd_bus_error_free(&e);
	return rc < 0 ? rc : 0;
}

/* GetUnit/LoadUnit(s name) → o path. */
static int unit_path_call(struct sdbus *bus, const char *method, const char *unit, char **path,
			  struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	const char *p;
	int rc;

	*path = NULL;
	rc = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method, &e,
				&reply, "s", unit);
	if (rc < 0) {
		if (sd_bus_error_has_name(&e, "org.freedesktop.systemd1.NoSuchUnit"))
			rc = -ENOENT;
		bus_fail(err, rc, &e, "%s %s", method, unit);
		goto out;
	}
	rc = sd_bus_message_read(reply, "o", &p);
	if (rc < 0) {
		bus_fail(err, rc, NULL, "%s %s: reading the reply", method, unit);
		goto out;
	}
	*path = strdup(p);
	rc = *path ? 0 : error_set(err, -ENOMEM, "out of memory");
out:
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	return rc;
}

int sdbus_load_unit(struct sdbus *bus, const char *unit, char **path, struct error *err)
{
	return unit_path_call(bus, "LoadUnit", unit, path, err);
}

int sdbus_get_unit(struct sdbus *bus, const char *unit, char **path, struct error *err)
{
	return unit_path_call(bus, "GetUnit", unit, path, err);
}

/* ---- jobs --------------------------------------------------------------------------------- */

struct job_wait {
	const char *job; /* object path of the job we wait for */
	char *result;
	bool done;
};

/* JobRemoved(u id, o job, s unit, s result): systemd's word that a job finished. */
static int on_job_removed(sd_bus_message *msg, void *userdata, sd_bus_error *ret_error)
{
	struct job_wait *w = userdata;
	const char *job, *unit, *result;
	uint32_t id;

	(void)ret_error;
	if (w->done || !w->job || sd_bus_message_read(msg, "uoss", &id, &job, &unit, &result) < 0 ||
	    strcmp(job, w->job) != 0)
		return 0;
	w->result = strdup(result);
	w->done = true;
	return 0;
}

static int subscribe(struct sdbus *bus, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	int rc;

	if (bus->subscribed)
		return 0;
	rc = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe",
				&e, NULL, NULL);
	if (rc < 0 && !sd_bus_error_has_name(&e, "org.freedesktop.systemd1.AlreadySubscribed"))
		bus_fail(err, rc, &e, "Subscribe");
	else
		bus->subscribed = true;
	sd_bus_error_free(&e);
	return bus->subscribed ? 0 : rc;
}

static int wait_for_job(struct sdbus *bus, struct job_wait *w, const char *unit,
			uint64_t timeout_usec, struct error *err)
{
	uint64_t start = now_usec(), now;
	int rc;

	while (!w->done) {
		now = now_usec();
		if (now - start >= timeout_usec)
			return error_set(err, -ETIME,
					 "%s: the job did not finish within %llu s (it goes "
					 "on in the background; see systemctl list-jobs)",
					 unit,
					 (unsigned long long)(timeout_usec / SDBUS_USEC_PER_SEC));
		rc = sd_bus_process(bus->bus, NULL);
		if (rc < 0)
			return bus_fail(err, rc, NULL, "lost systemd while waiting for %s", unit);
		if (rc > 0)
			continue;
		rc = sd_bus_wait(bus->bus, timeout_usec - (now - start));
		if (rc < 0 && rc != -EINTR)
			return bus_fail(err, rc, NULL, "lost systemd while waiting for %s", unit);
	}
	return w->result ? 0 : error_set(err, -ENOMEM, "out of memory");
}

static int unit_job(struct sdbus *bus, const char *method, const char *unit, uint64_t timeout_usec,
		    char **result, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *reply = NULL;
	sd_bus_slot *slot = NULL;
	struct job_wait w = {0};
	int rc;

	*result = NULL;
	rc = subscribe(bus, err);
	if (rc < 0)
		goto out;
	/* The match exists before the job does. sd_bus_call() only queues the signals that arrive
	 * while it waits for its reply; sd_bus_process() dispatches them later, so on_job_removed
	 * always runs with w.job known, even for a job that finished at once. */
	rc = sd_bus_match_signal(bus->bus, &slot, bus->direct ? NULL : SYSTEMD_DEST, SYSTEMD_PATH,
				 SYSTEMD_MANAGER, "JobRemoved", on_job_removed, &w);
	if (rc < 0) {
		bus_fail(err, rc, NULL, "cannot watch systemd jobs");
		goto out;
	}
	rc = sd_bus_call_method(bus->bus, SYSTEMD_DEST, SYSTEMD_PATH, SYSTEMD_MANAGER, method, &e,
				&reply, "ss", unit, "replace");
	if (rc < 0) {
		bus_fail(err, rc, &e, "%s %s", method, unit);
		goto out;
	}
	rc = sd_bus_message_read(reply, "o", &w.job);
	if (rc < 0) {
		bus_fail(err, rc, NULL, "%s %s: reading the reply", method, unit);
		goto out;
	}
	rc = wait_for_job(bus, &w, unit, timeout_usec, err);
	if (rc == 0) {
		*result = w.result;
		w.result = NULL;
	}
out:
	free(w.result);
	sd_bus_slot_unref(slot);
	sd_bus_message_unref(reply);
	sd_bus_error_free(&e);
	return rc;
}

int sdbus_start_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		     struct error *err)
{
	return unit_job(bus, "StartUnit", unit, timeout_usec, result, err);
}

int sdbus_stop_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		    struct error *err)
{
	return unit_job(bus, "StopUnit", unit, timeout_usec, result, err);
}

int sdbus_restart_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		       struct error *err)
{
	return unit_job(bus, "RestartUnit", unit, timeout_usec, result, err);
}

/* ---- properties --------------------------------------------------------------------------- */

char *sdbus_unit_path(const char *unit)
{
	char *path = NULL;

	return sd_bus_path_encode(SYSTEMD_UNIT_PREFIX, unit, &path) < 0 ? NULL : path;
}

/* type 's' fills a malloc'ed string into out; other D-Bus basic types fill *out directly. */
static int get_property(struct sdbus *bus, const char *unit, const char *interface,
			const char *property, char type, void *out, struct error *err)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *path = sdbus_unit_path(unit);
	int rc;

	if (!path)
		return error_set(err, -ENOMEM, "out of memory");
	if (type == 's')
		rc = sd_bus_get_property_string(bus->bus, SYSTEMD_DEST, path, interface, property,
						&e, out);
	else
		rc = sd_bus_get_property_trivial(bus->bus, SYSTEMD_DEST, path, interface, property,
						 &e, type, out);
	if (rc < 0)
		bus_fail(err, rc, &e, "reading %s of %s", property, unit);
	sd_bus_error_free(&e);
	free(path);
	return rc < 0 ? rc : 0;
}

int sdbus_get_string(struct sdbus *bus, const char *unit, const char *interface,
		     const char *property, char **out, struct error *err)
{
	*out = NULL;
	return get_property(bus, unit, interface, property, 's', out, err);
}

int sdbus_get_u64(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		  uint64_t *out, struct error *err)
{
	*out = 0;
	return get_property(bus, unit, interface, property, 't', out, err);
}

int sdbus_get_i32(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		  int32_t *out, struct error *err)
{
	*out = 0;
	return get_property(bus, unit, interface, property, 'i', out, err);
}

int sdbus_get_bool(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		   bool *out, struct error *err)
{
	int value = 0; /* D-Bus booleans travel as 32-bit ints */
	int rc = get_property(bus, unit, interface, property, 'b', &value, err);

	*out = rc == 0 && value;
	return rc;
}
