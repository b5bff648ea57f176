#!/bin/sh
# Dump Help Center's databases (pg_dump custom format) into $HELPDESK_BACKUP_DIR,
# one file per database per run, named <database>-<UTC time>.dump; keep the newest
# $HELPDESK_BACKUP_KEEP of each. `backup.sh once` dumps once; `backup.sh` dumps every
# $HELPDESK_BACKUP_INTERVAL seconds (the compose file's backup service); `backup.sh
# check` fails unless every database has a dump younger than two intervals (its
# health check: a backup that stopped working shows as unhealthy).
# The connection comes from libpq's PGHOST/PGPORT/PGUSER/PGPASSWORD: under compose the
# read-only role helpdesk_backup that helpdesk-setup makes (pg_read_all_data), not the
# administrator.
# Notifications before tickets: restored, notices can only be behind the tickets
# (a few missing), never ahead of them (docs/operations.md, "Backing up").
# The data keys are NOT in these dumps, and must not be stored beside them.
set -eu

DATABASES=${HELPDESK_BACKUP_DATABASES:-"helpdesk_notifications helpdesk_tickets"}
DIR=${HELPDESK_BACKUP_DIR:-/backups}
KEEP=${HELPDESK_BACKUP_KEEP:-14}
INTERVAL=${HELPDESK_BACKUP_INTERVAL:-86400}

case "$KEEP" in '' | *[!0-9]* | 0) echo "backup: HELPDESK_BACKUP_KEEP must be a whole number above 0, got '$KEEP'" >&2; exit 2 ;; esac
case "$INTERVAL" in '' | *[!0-9]* | 0) echo "backup: HELPDESK_BACKUP_INTERVAL must be whole seconds above 0, got '$INTERVAL'" >&2; exit 2 ;; esac

dump_all() {
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    for db in $DATABASES; do
        target="$DIR/$db-$stamp.dump"
        # Written under a temporary name: a dump cut short never looks complete.
        pg_dump --format=custom --no-owner --dbname="$db" --file="$target.partial"
        mv "$target.partial" "$target"
        echo "backup: $target ($(wc -c < "$target") bytes)"
        # Oldest first by name (the stamp sorts by time); drop all but the newest KEEP.
        ls "$DIR/$db-"*.dump | sort | head -n "-$KEEP" | while read -r old; do
            rm -f "$old" && echo "backup: removed $old"
        done
    done
}

if [ "${1:-}" = check ]; then
    minutes=$((2 * INTERVAL / 60 + 1))
    for db in $DATABASES; do
        [ -n "$(find "$DIR" -maxdepth 1 -name "$db-*.dump" -mmin "-$minutes")" ] || {
            echo "backup: no dump of $db in the last $minutes minutes" >&2
            exit 1
        }
    done
    exit 0
fi
mkdir -p "$DIR"
umask 077
if [ "${1:-}" = once ]; then
    dump_all
    exit 0
fi
while true; do
    # A failed run is reported and retried at the next interval, not fatal.
    dump_all || echo "backup: run failed; next in ${INTERVAL}s" >&2
    sleep "$INTERVAL"
done
