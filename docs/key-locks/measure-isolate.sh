#!/bin/bash
# How long isolate and share hold their locks (sql/functions/18_key_isolate.sql
# reports it: from the locks granted to the end of the switch), against the
# naive switch that lets PostgreSQL scan every pool leaf. Two tables with a
# pool of 100 buckets of 1,000 rows (1,000 small keys; key 7, which grew
# lately, with 3,000 rows in the last 6 buckets): `partwise key isolate` on
# the first (closed buckets proved free of key 7 first), the switch alone on
# the second (no proofs); then key 7 shared back, and a small key isolated.
# Usage: docs/key-locks/measure-isolate.sh URL   (the database's owner, an empty database)
set -euo pipefail
URL="$1"
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="$HERE/../../bin/partwise.mjs"
node "$BIN" install --url "$URL" > /dev/null
for t in m_proved m_naive; do
  psql -X -q -o /dev/null -v ON_ERROR_STOP=1 "$URL" <<SQL
CREATE TABLE ${t}_p (id bigserial, k int NOT NULL, payload text, bucket_id int NOT NULL DEFAULT 0,
                     PRIMARY KEY (id, k, bucket_id)) PARTITION BY LIST (k);
SELECT partwise.install_routing((partwise.configure_table('public', '$t', '${t}_p', 'k', 1000)).config_id);
SELECT partwise.share_small_keys(config_id, 2000) FROM partwise.partition_config WHERE table_name = '$t';
INSERT INTO $t (k, payload) SELECT CASE WHEN g > 94000 AND g % 2 = 0 THEN 7 ELSE 1000 + g % 1000 END, repeat('x', 100)
  FROM generate_series(1, 100000) g;
INSERT INTO $t (k, payload) SELECT 5000 + g, 'open' FROM generate_series(1, 10) g;
SQL
done
echo "== partwise key isolate, closed buckets proved free of key 7 first"
/usr/bin/time -f "%e s in all" node "$BIN" key isolate --url "$URL" --table m_proved --value 7
echo "== the switch alone, no proofs (PostgreSQL scans every pool leaf)"
psql -X -q -At "$URL" -c "SELECT 'rows moved ' || rows_moved || ', pool leaves read ' || pool_leaves_read || ', locks held ' || held_ms || ' ms'
  FROM partwise.key_isolate_switch((SELECT config_id FROM partwise.partition_config WHERE table_name = 'm_naive'), '7')"
echo "== partwise key share"
node "$BIN" key share --url "$URL" --table m_proved --value 7
echo "== a small key (100 rows, one in each bucket): every leaf holds it, nothing to prove"
node "$BIN" key isolate --url "$URL" --table m_proved --value 1005
