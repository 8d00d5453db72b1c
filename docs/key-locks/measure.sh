#!/bin/bash
# What the key actions cost the application: 4 pgbench clients write and read
# tenants 1..60 of a managed table `events` (key tenant_id) for 70 s while
# partwise key acts on tenants 74..78, each action's start and end noted.
# Then: node docs/key-locks/analyse.mjs /tmp/key-locks
# Usage: docs/key-locks/measure.sh URL   (the table's owner; pgbench on PATH)
set -euo pipefail
URL="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
OUT=/tmp/key-locks
BIN="$HERE/../../bin/partwise.mjs"
mkdir -p "$OUT" && rm -f "$OUT"/pgb* "$OUT"/actions.txt
pgbench -n -c 4 -j 2 -T 70 -l --log-prefix="$OUT/pgb" -f "$HERE/probe.sql" "$URL" > "$OUT/pgbench.out" 2>&1 &
PROBE=$!
sleep 4
act() {
  local start end
  start=$(date +%s.%N)
  node "$BIN" key "$@" --url "$URL" --table events --yes --json > "$OUT/last.json"
  end=$(date +%s.%N)
  echo "$1 $3 $start $end $(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[0].durationMs))' "$OUT/last.json")" >> "$OUT/actions.txt"
  sleep 3
}
act detach --value 77
act attach --value 77
act vacuum --value 77
act analyze --value 77
act limit --value 77 --bucket-limit 500
act export --value 78 --out "$OUT/t78.csv"
act drop --value 71
act detach --value 70
wait $PROBE
