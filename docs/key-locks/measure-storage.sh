#!/bin/bash
# What partwise key move and compact cost the application writing to the very
# key they act on: 2 pgbench clients update, read and insert rows of tenant 1
# (docs/key-locks/probe-key.sql) while tenant 1 (1,000,000 rows in leaves of
# 100,000) is moved to a tablespace, then, after 9 rows in 10 of its closed
# buckets were deleted, compacted. Each phase is then read as measure.sh's:
#   node docs/key-locks/analyse.mjs /tmp/key-locks-storage/move
#   node docs/key-locks/analyse.mjs /tmp/key-locks-storage/compact
# Usage: docs/key-locks/measure-storage.sh URL TABLESPACE
#   URL: the owner of table `events`, made as the owner (psql), then partitioned:
#     CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id int NOT NULL, kind text NOT NULL,
#                          payload text, created_at timestamptz NOT NULL DEFAULT now());
#     INSERT INTO events (tenant_id, kind, payload)
#       SELECT 1, 'seed', repeat(md5(g::text), 2) FROM generate_series(1, 1000000) g;
#     INSERT INTO events (tenant_id, kind, payload)
#       SELECT 2 + g % 40, 'seed', repeat(md5(g::text), 2) FROM generate_series(1, 400000) g;
#     CREATE INDEX ON events (tenant_id, created_at); ANALYZE events;
#     npx partwise migrate --url URL --table public.events --key tenant_id --bucket-limit 100000 --yes
#   TABLESPACE: one the owner may create in (a superuser: CREATE TABLESPACE ... LOCATION
#   '<empty directory the server's OS user owns>'; GRANT CREATE ON TABLESPACE ... TO owner).
#   pgbench and psql on PATH.
set -euo pipefail
URL="$1"
SPACE="$2"
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$HERE/../../bin/partwise.mjs"
ROOT=/tmp/key-locks-storage

phase() {
  local name="$1"
  shift
  local out="$ROOT/$name"
  mkdir -p "$out" && rm -f "$out"/pgb* "$out"/actions.txt
  pgbench -n -c 2 -j 2 -T "$PROBE_SECONDS" -l --log-prefix="$out/pgb" -f "$HERE/probe-key.sql" "$URL" > "$out/pgbench.out" 2>&1 &
  local probe=$!
  sleep 4
  local start end
  start=$(date +%s.%N)
  node "$BIN" key "$@" --url "$URL" --table events --value 1 --yes --json > "$out/last.json"
  end=$(date +%s.%N)
  echo "$1 1 $start $end $(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].durationMs))' "$out/last.json")" >> "$out/actions.txt"
  wait $probe
}

PROBE_SECONDS=40 phase move move --tablespace "$SPACE"
psql -q "$URL" -c "DELETE FROM events_partitioned WHERE tenant_id = 1 AND id % 10 <> 0
                     AND bucket_id < (SELECT current_bucket_id FROM partwise.partition_tracker WHERE key_value = '1')" \
               -c "VACUUM ANALYZE events_partitioned"
PROBE_SECONDS=25 phase compact compact
