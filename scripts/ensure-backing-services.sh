#!/usr/bin/env bash
# Start the local PostgreSQL and RabbitMQ when they are not answering; wait until they do.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
rabbit_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_up; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! rabbit_up; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached || true
fi
for _ in $(seq 1 60); do
  if pg_up && rabbit_up; then break; fi
  sleep 1
done
pg_up || { echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2; exit 1; }
rabbit_up || { echo "RabbitMQ is not answering on 127.0.0.1:5672" >&2; exit 1; }
# The tests make a throwaway vhost per stack through the broker's management API
# (tests/stack.py): milliseconds, where each rabbitmqctl call takes about 2 s. Without
# it they fall back to rabbitmqctl, so a broker that cannot enable it still works.
if ! (exec 3<>/dev/tcp/127.0.0.1/15672) 2>/dev/null; then
  rabbitmq-plugins enable rabbitmq_management >/dev/null 2>&1 \
    || echo "could not enable RabbitMQ's management API: tests use rabbitmqctl (slower)" >&2
fi
