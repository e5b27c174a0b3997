#!/usr/bin/env bash
# `make run`: create or update the demo database with the five CRM modules
# and demo data, then serve it with the web client on http://localhost:$PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
DB=${DB:-crm}
PORT=${PORT:-8000}
PASSWORD=${CRM_ADMIN_PASSWORD:-admin}
MODULES=${CRM_MODULES:-crm_core crm_marketing crm_service crm_survey crm_loyalty}
# trytond.conf keeps relative paths (var/, web/sao): run from the top.
export TRYTOND_CONFIG=${TRYTOND_CONFIG:-$top/trytond.conf}
export TRYTOND_WEB__LISTEN=${TRYTOND_WEB__LISTEN:-localhost:$PORT}
uri=${TRYTOND_DATABASE__URI:-sqlite://}
bin=$top/.venv/bin

passfile=$(mktemp)
trap 'rm -f "$passfile"' EXIT
printf '%s\n' "$PASSWORD" > "$passfile"
export TRYTONPASSFILE=$passfile

if [[ $uri == sqlite* ]]; then
    mkdir -p var
    where="SQLite file var/$DB.sqlite"
else
    where="PostgreSQL database $DB"
fi

if "$bin/python" tools/database.py exists "$DB"; then
    echo "==> Updating the modules of the $where"
    "$bin/trytond-admin" -d "$DB" -u $MODULES --activate-dependencies -p
else
    echo "==> Creating the $where with the CRM modules (takes a minute or two)"
    "$bin/python" tools/database.py create "$DB"
    "$bin/trytond-admin" -d "$DB" -u $MODULES --activate-dependencies \
        --email "admin@example.com"
fi

"$bin/python" tools/demo_data.py -c "$TRYTOND_CONFIG" -d "$DB"

cat <<MSG

==> The CRM is ready: open http://localhost:$PORT/
    database: $DB   login: admin   password: ${CRM_ADMIN_PASSWORD:+(from CRM_ADMIN_PASSWORD)}${CRM_ADMIN_PASSWORD:-admin}
    Stop the server with Ctrl-C.

MSG
exec "$bin/trytond" -d "$DB"
