#!/bin/sh
# One-shot schema job for docker-compose.yml, run in the temporalio/admin-tools image: creates the
# `temporal` and `temporal_visibility` databases and brings both schemas to the version shipped with
# the image, and creates the `conveyor` database for Conveyor's shared stores (its tables are migrated
# by Conveyor's workers on start). `conveyor cluster up` (platform/cluster.ts) runs the same
# temporal-sql-tool steps without Docker. Every step is idempotent (existing databases are kept, setup-schema does not lower a
# newer version, update-schema only applies missing versions), so it is safe on every `up` and
# after upgrading the image.
set -eu

: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is required (the PostgreSQL host)}"
: "${POSTGRES_USER:?POSTGRES_USER is required}"
: "${SQL_PASSWORD:?SQL_PASSWORD is required (read by temporal-sql-tool)}"
PORT="${DB_PORT:-5432}"
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${PORT}..."
attempt=1
until nc -z -w 5 "$POSTGRES_SEEDS" "$PORT"; do
  if [ "$attempt" -ge 30 ]; then
    echo "PostgreSQL did not accept connections after $attempt attempts" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -p "$PORT" -u "$POSTGRES_USER" "$@"
}

echo 'Setting up database temporal...'
sql_tool --db temporal create
sql_tool --db temporal setup-schema -v 0.0
sql_tool --db temporal update-schema -d "$SCHEMA_DIR/temporal/versioned"

echo 'Setting up database temporal_visibility...'
sql_tool --db temporal_visibility create
sql_tool --db temporal_visibility setup-schema -v 0.0
sql_tool --db temporal_visibility update-schema -d "$SCHEMA_DIR/visibility/versioned"

echo 'Creating database conveyor (Conveyor stores; the workers migrate its tables)...'
sql_tool --db conveyor create

echo 'PostgreSQL schema setup complete'
