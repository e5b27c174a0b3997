#!/usr/bin/env bash
# Install the Tryton web client (sao) under web/sao, as trytond serves it.
# sao's index.html loads node_modules/ relative to itself, so its
# dependencies must sit inside its own folder: unpack the npm package there
# and install its runtime dependencies in place (a plain `npm install`
# would hoist them next to it and the page would break).
set -euo pipefail
cd "$(dirname "$0")/../web"
spec=$(node -p "'tryton-sao@' + require('./package.json').dependencies['tryton-sao']")
if [ -f sao/index.html ] && [ -f sao/.installed ] \
        && [ "$(cat sao/.installed)" = "$spec" ]; then
    exit 0
fi
echo "==> Installing the web client ($spec) under web/sao"
rm -rf sao sao.tmp && mkdir sao.tmp
tarball=$(cd sao.tmp && npm pack --silent "$spec" | tail -n 1)
tar -xzf "sao.tmp/$tarball" -C sao.tmp
mv sao.tmp/package sao && rm -rf sao.tmp
(cd sao && npm install --omit=dev --legacy-peer-deps --no-audit --no-fund \
    --loglevel=error)
echo "$spec" > sao/.installed
