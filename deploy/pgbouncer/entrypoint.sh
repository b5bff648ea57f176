#!/bin/sh
# The service logins PgBouncer accepts and passes on to PostgreSQL, from the same
# .env passwords the services' URLs use; written to a file only this user reads.
set -eu
umask 077
printf '"helpdesk_tickets" "%s"\n"helpdesk_notifications" "%s"\n' \
  "$HELPDESK_TICKETS_DB_PASSWORD" "$HELPDESK_NOTIFICATIONS_DB_PASSWORD" > /tmp/userlist.txt
exec pgbouncer /etc/pgbouncer/pgbouncer.ini
