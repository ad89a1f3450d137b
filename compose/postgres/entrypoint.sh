#!/bin/sh
# PostgreSQL for the optional "sql" profile (compose/Dockerfile.postgres): on the first
# start, initdb, a role and database "asterisk" with the password from the secret; the
# standard realtime tables are then made by the sql-init service (`ara-ldap sql init`).
set -eu
PGBIN=/usr/lib/postgresql/15/bin
PGDATA=/var/lib/postgresql/data
PASSWORD_FILE="${ARA_PG_PASSWORD_FILE:-/run/secrets/pg_password}"

if [ "${1:-}" = healthcheck ]; then
    exec su postgres -s /bin/sh -c "$PGBIN/pg_isready -q -h /run/postgresql -d asterisk"
fi

mkdir -p /run/postgresql "$PGDATA"
chown postgres:postgres /run/postgresql "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -r "$PASSWORD_FILE" ] || { echo "ara-postgres: mount the password as $PASSWORD_FILE" >&2; exit 1; }
    su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA -U postgres --auth-local=peer --auth-host=scram-sha-256 -E UTF8" >/dev/null
    # Clients come from the compose network (any address inside the container's view).
    echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -w -o '-c listen_addresses=' start" >/dev/null
    password=$(cat "$PASSWORD_FILE" | sed "s/'/''/g")
    su postgres -s /bin/sh -c "psql -q -h /run/postgresql -v ON_ERROR_STOP=1" <<SQL
CREATE ROLE asterisk LOGIN PASSWORD '$password';
CREATE DATABASE asterisk OWNER asterisk;
SQL
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -w stop" >/dev/null
    echo "ara-postgres: database asterisk ready" >&2
fi
exec su postgres -s /bin/sh -c "exec $PGBIN/postgres -D $PGDATA"
