/*
 * sdbus: the systemd Manager over sd-bus (libsystemd), as systemctl uses it (docs/protocols.md,
 * systemd over sd-bus).
 *
 * sdbus_open() connects like systemctl does: as root, straight to systemd's private socket
 * (/run/systemd/private, works without a D-Bus daemon), else through the system bus. Every call
 * is synchronous. Unit jobs (start, stop, restart) wait for systemd's JobRemoved signal for
 * their job, up to a timeout, and hand back the job result ("done", "failed", "canceled",
 * "timeout", "dependency", "skipped").
 *
 * Nothing here resolves user names (no NSS in a static binary). Errors are negative errno codes
 * with `err` holding the D-Bus error name and message. Strings returned through out-parameters
 * are malloc'ed; the caller frees them. struct sdbus is owned by the caller: sdbus_free().
 */
#ifndef ETCD_ANSIBLE_SDBUS_H
#define ETCD_ANSIBLE_SDBUS_H

#include "error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SDBUS_UNIT "org.freedesktop.systemd1.Unit"
#define SDBUS_SERVICE "org.freedesktop.systemd1.Service"
#define SDBUS_TIMER "org.freedesktop.systemd1.Timer"

#define SDBUS_USEC_PER_SEC 1000000ULL

struct sdbus;

/* Connects to systemd; the message says systemd/D-Bus is unreachable when it is. */
int sdbus_open(struct sdbus **out, struct error *err);
void sdbus_free(struct sdbus *bus);

/* Manager.Reload(): re-reads every unit file (daemon-reload). */
int sdbus_reload(struct sdbus *bus, struct error *err);

/* Manager.EnableUnitFiles(files, runtime=false, force=true); returns the number of changes. */
int sdbus_enable_unit_files(struct sdbus *bus, const char *const *files, size_t count,
			    struct error *err);

/* Manager.DisableUnitFiles(files, runtime=false); returns the number of changes. */
int sdbus_disable_unit_files(struct sdbus *bus, const char *const *files, size_t count,
			     struct error *err);

/* Manager.StartUnit/StopUnit/RestartUnit(name, "replace"), then waits up to timeout_usec for
 * the job to finish. *result (caller frees) is the job result; -ETIME if it did not finish. */
int sdbus_start_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		     struct error *err);
int sdbus_stop_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		    struct error *err);
int sdbus_restart_unit(struct sdbus *bus, const char *unit, uint64_t timeout_usec, char **result,
		       struct error *err);

/* Manager.CleanUnit(name, what): removes the unit's kept state, e.g. {"state"} for the stamp file
 * of a Persistent= timer. The unit must be inactive. */
int sdbus_clean_unit(struct sdbus *bus, const char *unit, const char *const *what, size_t count,
		     struct error *err);

/* Manager.ResetFailedUnit(name): forget a failed state (e.g. of a removed unit). */
int sdbus_reset_failed_unit(struct sdbus *bus, const char *unit, struct error *err);

/* Manager.LoadUnit (loads it if needed) / GetUnit (-ENOENT if not loaded): its object path. */
int sdbus_load_unit(struct sdbus *bus, const char *unit, char **path, struct error *err);
int sdbus_get_unit(struct sdbus *bus, const char *unit, char **path, struct error *err);

/* The object path of a unit, without a call (sd_bus_path_encode); NULL on ENOMEM. */
char *sdbus_unit_path(const char *unit);

/* A property of a unit by unit name, e.g. (bus, "x.timer", SDBUS_UNIT, "ActiveState", &s).
 * systemd loads the unit on access, so a missing unit reads as LoadState "not-found". */
int sdbus_get_string(struct sdbus *bus, const char *unit, const char *interface,
		     const char *property, char **out, struct error *err);
int sdbus_get_u64(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		  uint64_t *out, struct error *err);
int sdbus_get_i32(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		  int32_t *out, struct error *err);
int sdbus_get_bool(struct sdbus *bus, const char *unit, const char *interface, const char *property,
		   bool *out, struct error *err);

#endif
