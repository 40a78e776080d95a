#!/usr/bin/env bash
# Regenerates fixtures/sample/sample.sql and sample.dump (-Fc, which the build's code cache is trained
# on: scripts/code-cache.mjs): loads fixtures/sample/sample-db.sql into a throwaway PostgreSQL cluster
# (temp dir, unix socket only) and dumps it with the real pg_dump.
# Usage: scripts/make-sample.sh      (env: PG_BIN, default: the newest /usr/lib/postgresql/*/bin)
set -euo pipefail
cd "$(dirname "$0")/.."
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
[[ -x "$PG_BIN/initdb" ]] || { echo "PostgreSQL server binaries not found (set PG_BIN)" >&2; exit 1; }
dir=$(mktemp -d /tmp/anonymise-dump-sample.XXXXXX)
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres "$dir"
chmod 0755 "$dir"
port=$((30000 + RANDOM % 10000))
cleanup() { as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-p $port -k $dir -c listen_addresses=" start >/dev/null
export PGHOST=$dir PGPORT=$port PGUSER=postgres
"$PG_BIN/createdb" -T template0 -E UTF8 --locale=C council
"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -d council -f fixtures/sample/sample-db.sql
rk=()
if [[ "$("$PG_BIN/pg_dump" --help)" == *--restrict-key* ]]; then rk=(--restrict-key=sampleFixedRestrictKey); fi
"$PG_BIN/pg_dump" "${rk[@]}" --no-owner -d council -f fixtures/sample/sample.sql
"$PG_BIN/pg_dump" --no-owner -Fc -d council -f fixtures/sample/sample.dump
echo "wrote fixtures/sample/sample.sql ($(wc -c < fixtures/sample/sample.sql) bytes) and sample.dump ($(wc -c < fixtures/sample/sample.dump) bytes)"
