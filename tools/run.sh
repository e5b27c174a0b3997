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
# The host modules the CRM modules extend when activated (extras_depend)
EXTRAS="timesheet_cost attendance sale_gift_card sale_promotion_coupon"
# The languages the suite is translated into: loaded and translatable
LANGUAGES="bg ru zh_CN he"
# trytond 8.0 reads a relative SQLite path from the filesystem root, so the
# settings of trytond.conf are written to var/trytond.conf with the paths
# made absolute; every command below reads that file.
mkdir -p var
"$top/.venv/bin/python" - "$top" <<'PY'
import configparser, os, sys
top = sys.argv[1]
config = configparser.RawConfigParser()
config.read(os.path.join(top, 'trytond.conf'))
for section, option in [('database', 'path'), ('web', 'root')]:
    if config.has_option(section, option):
        config.set(section, option, os.path.join(
                top, config.get(section, option)))
with open(os.path.join(top, 'var', 'trytond.conf'), 'w') as file:
    file.write('# Written by `make run` from trytond.conf: do not edit\n')
    config.write(file)
PY
export TRYTOND_CONFIG=$top/var/trytond.conf
export TRYTOND_WEB__LISTEN=${TRYTOND_WEB__LISTEN:-localhost:$PORT}
uri=${TRYTOND_DATABASE__URI:-sqlite://}
bin=$top/.venv/bin
if [[ $uri == postgresql* ]]; then
    # Cache invalidations by NOTIFY on the transaction's own connection
    # (the README's Production section)
    export TRYTOND_CACHE__CLEAN_TIMEOUT=${TRYTOND_CACHE__CLEAN_TIMEOUT:-0}
fi

# trytond-admin reads the admin password from the file named by
# TRYTONPASSFILE; only it does (the demo data takes CRM_ADMIN_PASSWORD from the
# environment). The file is private to the user, removed as soon as
# trytond-admin is done, and by the trap if the script stops before: the
# final `exec` replaces the shell, and its traps with it.
passfile=$(umask 077 && mktemp)
trap 'rm -f "$passfile"' EXIT
printf '%s\n' "$PASSWORD" > "$passfile"
export TRYTONPASSFILE=$passfile

if [[ $uri == sqlite* ]]; then
    where="SQLite file var/$DB.sqlite"
else
    where="PostgreSQL database $DB"
fi

if "$bin/python" tools/database.py exists "$DB"; then
    echo "==> Updating the modules of the $where"
    "$bin/trytond-admin" -d "$DB" -u $MODULES $EXTRAS --activate-dependencies -p \
        -l $LANGUAGES
else
    echo "==> Creating the $where with the CRM modules (takes a minute or two)"
    "$bin/python" tools/database.py create "$DB"
    "$bin/trytond-admin" -d "$DB" -u $MODULES $EXTRAS --activate-dependencies \
        -l $LANGUAGES \
        --email "admin@example.com"
fi
rm -f "$passfile"
unset TRYTONPASSFILE
trap - EXIT

"$bin/python" tools/demo_data.py -c "$TRYTOND_CONFIG" -d "$DB"

cat <<MSG

==> The CRM is ready: open http://localhost:$PORT/
    database: $DB   login: admin   password: ${CRM_ADMIN_PASSWORD:+(from CRM_ADMIN_PASSWORD)}${CRM_ADMIN_PASSWORD:-admin}
    Stop the server with Ctrl-C.

MSG
exec "$bin/trytond" -d "$DB"
