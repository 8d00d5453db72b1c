-- Change capture for online migrations. While rows are copied, and after the
-- swap until the migration is finalized, a trigger records which rows changed:
-- their identity (primary key) and the key value they had. Replaying such a
-- log makes the other table's copy of each logged row equal to the current
-- row, whatever happened in between, so it can be applied more than once.

-- create_replay before it was given the connection's share of the lock table.
DROP FUNCTION IF EXISTS @extschema@.create_replay(name, regclass, regclass, name[], name, int, name);
-- start_change_capture before the after-swap log recorded each row's bucket.
DROP FUNCTION IF EXISTS @extschema@.start_change_capture(name, regclass, name[], name, name);

-- start_change_capture: create the log table @extschema@.<p_log>, its trigger
-- function and the trigger p_trigger on p_table: AFTER ... FOR EACH ROW on a
-- plain table; on a partitioned table (the swap's, to log writes to the new
-- table until finalize) three statement triggers with transition tables,
-- p_trigger and p_trigger_update, p_trigger_delete (one event each:
-- PostgreSQL allows transition tables only so). A row trigger on a
-- partitioned table is cloned onto every partition, and creating or dropping
-- it locks each one until commit: on a tree of thousands of partitions, more
-- locks than one transaction can take from the server's lock table. A
-- statement trigger stays on the partitioned table alone, and its transition
-- tables hold the rows of every partition that a statement on it wrote: the
-- routing view's inserts, updates and deletes all are. (Writes that name a
-- leaf directly bypass it.)
-- On a partitioned table, p_bucket (its bucket column) is logged too, as
-- bucket_value: whoever reads the log back (carry_back_changes) then finds
-- each row in the one leaf of its key and bucket instead of probing, and
-- locking, every leaf of the key.
-- Locks: SHARE ROW EXCLUSIVE on p_table (not its partitions) while the
-- triggers are created; the caller sets lock_timeout and retries.
CREATE OR REPLACE FUNCTION @extschema@.start_change_capture(
  p_log name, p_table regclass, p_identity name[], p_key name, p_trigger name, p_bucket name DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_columns text;
  v_old text;
  v_new text;
  v_changed text;
  v_key_type text;
  v_partitioned boolean := (SELECT relkind = 'p' FROM pg_catalog.pg_class WHERE oid = p_table);
  v_bucket_type text;
  -- The log's columns after the identity, and what a statement trigger takes for them.
  v_logged text := 'key_value';
  v_taken text := quote_ident(p_key);
BEGIN
  SELECT string_agg(format('%I %s NOT NULL', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY k.ord),
         string_agg(format('OLD.%I', a.attname), ', ' ORDER BY k.ord),
         string_agg(format('NEW.%I', a.attname), ', ' ORDER BY k.ord)
    INTO v_columns, v_old, v_new
    FROM unnest(p_identity) WITH ORDINALITY k(name, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = p_table AND a.attname = k.name AND NOT a.attisdropped;
  IF v_columns IS NULL OR cardinality(p_identity) <> (SELECT count(*) FROM pg_catalog.pg_attribute
        WHERE attrelid = p_table AND attname = ANY(p_identity) AND NOT attisdropped) THEN
    RAISE EXCEPTION 'partwise: % has no columns %', p_table, p_identity;
  END IF;
  SELECT format_type(atttypid, atttypmod) INTO STRICT v_key_type
    FROM pg_catalog.pg_attribute WHERE attrelid = p_table AND attname = p_key AND NOT attisdropped;
  v_changed := format('(%s, NEW.%I) IS DISTINCT FROM (%s, OLD.%I)', v_new, p_key, v_old, p_key);
  IF v_partitioned AND p_bucket IS NOT NULL THEN
    SELECT format_type(atttypid, atttypmod) INTO STRICT v_bucket_type
      FROM pg_catalog.pg_attribute WHERE attrelid = p_table AND attname = p_bucket AND NOT attisdropped;
    v_logged := 'key_value, bucket_value';
    v_taken := format('%I, %I', p_key, p_bucket);
  END IF;

  EXECUTE format('CREATE TABLE IF NOT EXISTS @extschema@.%I (change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, %s, key_value %s%s)',
                 p_log, v_columns, v_key_type, coalesce(', bucket_value ' || v_bucket_type, ''));
  -- The trigger runs for the application's role: SECURITY DEFINER lets it
  -- write the log without granting anyone access to Partwise's schema.
  IF NOT v_partitioned THEN
    EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, p_log || '_capture', format($code$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value) VALUES (%3$s, OLD.%5$I);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND %6$s) THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value) VALUES (%4$s, NEW.%5$I);
  END IF;
  RETURN NULL;
END
$code$, p_log,
        (SELECT string_agg(quote_ident(n), ', ') FROM unnest(p_identity) n),
        v_old, v_new, p_key, v_changed));
  ELSE
    -- Statement triggers (see above); an update logs the rows as they were
    -- and as they are (a pair logged twice is replayed once).
    EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, p_log || '_capture', format($code$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO @extschema@.%1$I (%2$s, %4$s) SELECT %2$s, %3$s FROM partwise_new;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO @extschema@.%1$I (%2$s, %4$s) SELECT %2$s, %3$s FROM partwise_old;
  ELSE
    INSERT INTO @extschema@.%1$I (%2$s, %4$s)
    SELECT %2$s, %3$s FROM partwise_old UNION SELECT %2$s, %3$s FROM partwise_new;
  END IF;
  RETURN NULL;
END
$code$, p_log, (SELECT string_agg(quote_ident(n), ', ') FROM unnest(p_identity) n), v_taken, v_logged));
  END IF;
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I() FROM PUBLIC', p_log || '_capture');
  IF v_partitioned THEN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = p_table AND tgname = p_trigger) THEN
      EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS partwise_new'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.%I()', p_trigger, p_table, p_log || '_capture');
      EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS partwise_old NEW TABLE AS partwise_new'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.%I()', p_trigger || '_update', p_table, p_log || '_capture');
      EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %s REFERENCING OLD TABLE AS partwise_old'
                     ' FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.%I()', p_trigger || '_delete', p_table, p_log || '_capture');
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = p_table AND tgname = p_trigger) THEN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION @extschema@.%I()',
                   p_trigger, p_table, p_log || '_capture');
    -- ALWAYS: a trigger fires by default only for sessions in
    -- session_replication_role origin, so the changes a logical replication
    -- apply worker (replica) makes to the original during the copy would go
    -- unlogged: never copied, never replayed (as pg_repack enables its own).
    -- Plain table: no partition to recurse into. The partitioned table's
    -- statement triggers above log writes after the swap, through the view,
    -- which logical replication cannot apply to.
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_table, p_trigger);
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.start_change_capture(name, regclass, name[], name, name, name) IS
  'Starts logging which rows of a table change (identity, key and, on a partitioned table, bucket), for replay onto a copy.';

-- stop_change_capture: drop the trigger (when its table still exists) and,
-- unless p_keep_log, the log and its function. Locks: as DROP TRIGGER (on a
-- partitioned table, where they are statement triggers, the table alone).
CREATE OR REPLACE FUNCTION @extschema@.stop_change_capture(p_log name, p_table regclass, p_trigger name, p_keep_log boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_trigger name;
BEGIN
  FOR v_trigger IN
    SELECT t.tgname FROM pg_catalog.pg_trigger t
     WHERE p_table IS NOT NULL AND t.tgrelid = p_table
       AND t.tgname IN (p_trigger, p_trigger || '_update', p_trigger || '_delete')
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, p_table);
  END LOOP;
  IF NOT p_keep_log THEN
    EXECUTE format('DROP TABLE IF EXISTS @extschema@.%I', p_log);
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', p_log || '_capture');
    -- The replay's signature before and since set-based, parallel replay.
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(bigint, bigint, boolean)', p_log || '_replay');
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(bigint, int, int)', p_log || '_replay');
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(bigint, int, int)', p_log || '_new_keys');
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.stop_change_capture(name, regclass, name, boolean) IS
  'Stops change capture and drops its log unless asked to keep it.';

-- replay_key_room: how many keys' changes one transaction may apply to the
-- partition tree p_root within p_lock_share relation locks (the share of the
-- lock table the engine gives each of its connections, catalog.ts
-- lockBudget), or NULL when the whole tree fits. Applying a key's changes
-- locks every relation of the key: its level-1 partition and partitioned
-- indexes, each leaf, the leaf's indexes, its TOAST table and the TOAST
-- table's index (each of the last two opened only when a value is stored
-- out of line or read back, so counted as the worst case). Three quarters of
-- the share go to the keys, the rest to what a statement locks beside them
-- (the root and its indexes, the original table, the log, the catalogs), as
-- the engine's other groupings do (leavesPerTransaction). Keys are counted
-- at the largest one that fits the share on its own: a batch of keys never
-- goes beyond it, and a key larger than the share (the plan names it) is
-- applied whole, alone or with others. Read from pg_inherits and pg_class
-- only: pg_partition_tree locks every partition it lists.
CREATE OR REPLACE FUNCTION @extschema@.replay_key_room(p_root regclass, p_lock_share int)
RETURNS int
LANGUAGE sql STABLE
AS $$
  WITH RECURSIVE tree(relid, key_relid, level) AS (
    SELECT p_root::oid, NULL::oid, 0
    UNION ALL
    SELECT h.inhrelid, coalesce(tree.key_relid, h.inhrelid), tree.level + 1
      FROM pg_catalog.pg_inherits h JOIN tree ON h.inhparent = tree.relid),
  relations AS (
    SELECT t.key_relid,
           1 + (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = t.relid)
             + CASE WHEN c.reltoastrelid <> 0 THEN 2 ELSE 0 END AS n
      FROM tree t JOIN pg_catalog.pg_class c ON c.oid = t.relid),
  per_key AS (
    SELECT sum(n) AS n FROM relations WHERE key_relid IS NOT NULL GROUP BY key_relid),
  room AS (SELECT (p_lock_share * 3 / 4)::bigint AS n)
  SELECT CASE WHEN (SELECT sum(n) FROM relations) <= room.n THEN NULL
              ELSE greatest(1, room.n / greatest(1, coalesce(
                     (SELECT max(n) FROM per_key WHERE per_key.n <= room.n),
                     (SELECT min(n) FROM per_key))))::int END
    FROM room
$$;
COMMENT ON FUNCTION @extschema@.replay_key_room(regclass, int) IS
  'Keys whose changes one transaction may apply to a partition tree within a share of the lock table, or NULL for any number.';

-- create_replay: generate @extschema@.<p_log>_replay(limit, part, parts),
-- which applies up to p_limit log entries of one share of the log to p_to,
-- reading current rows from p_from, and consumes them (deletes them in the
-- transaction that applies them, so they are gone exactly when their effect
-- commits). Consuming is what makes catching up safe while the application
-- writes: change ids are handed out when a row is logged, not when its
-- transaction commits, so a high-water mark would skip an entry whose
-- transaction commits late. Entries not yet visible stay for the next call.
--
-- Set-based: the entries taken are reduced to distinct (identity, key)
-- pairs, so a row changed fifty times is applied once, and every pair makes
-- p_to's row of that identity and key equal to p_from's (a key change logs
-- the old and the new key: the old pair deletes, the new one inserts). A pair
-- whose row is gone from p_from is deleted from p_to; one that p_to holds is
-- updated in place (keeping its bucket: a bucket's tickets are never given
-- back, so re-inserting would fill buckets with holes); the others are
-- inserted, with a bucket taken from the key's tickets when p_config_id is
-- given. Each statement reads p_from in a snapshot taken after the entries'
-- transactions committed, so it sees their changes or later ones (which
-- logged entries of their own). Replaying an entry again changes nothing: it
-- only makes rows equal to their current state.
--
-- Several statements, not one: taking a bucket may create a partition (a new
-- key, a full bucket), which PostgreSQL refuses while a statement of the same
-- session uses p_to ("being used by active queries"), so the buckets are
-- taken between the statements that find the rows to insert and the insert.
-- They are taken in key order: opening a bucket locks the key's tracker row
-- until commit, and appliers that lock the same keys in the same order never
-- wait for each other in a circle.
--
-- Parallel appliers each take the share p_part of p_parts, by a hash of the
-- identity: all entries of a row go to one applier, so two appliers never
-- write the same row of p_to (two inserts of one pair would take two
-- buckets). Key values narrow every lookup so that partitioned tables prune
-- to one key. Returns the number of log entries consumed.
--
-- A lookup in p_to reads every leaf of the key (an index probe each), not the
-- one that holds the row, unlike the carry-back after the swap, whose log
-- records the bucket each row was written to. Here the bucket of a logged row
-- is not known cheaply, nor safely guessed: the copy numbers a key's rows
-- chunk by chunk, in TID order among the rows of the chunk that were not
-- logged at that moment, and keeps no record of which row got which number;
-- the TID of a row's logged old version says nothing either way, since a row
-- inserted after the log started (placed by this replay, with a ticket) has
-- a TID in the same blocks as the copied ones. Recording each copied row's
-- bucket would cost the copy a write per row.

-- Locks: ROW EXCLUSIVE on the log and on p_to's partitions (every one with
-- generic plans, those of the batch's keys with custom plans: see below),
-- ACCESS SHARE on p_from; a new bucket or key takes create_partition's.
CREATE OR REPLACE FUNCTION @extschema@.create_replay(
  p_log name, p_from regclass, p_to regclass, p_identity name[], p_key name,
  p_config_id int, p_bucket_column name, p_lock_share int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_identity_list text := (SELECT string_agg(format('l.%I', n), ', ') FROM unnest(p_identity) n);
  v_pair_list text := (SELECT string_agg(format('t.%I', n), ', ') FROM unnest(p_identity) n);
  v_pair_row text := (SELECT string_agg(format('r.%I', n), ', ') FROM unnest(p_identity) n) || ', r.key_value';
  v_target_row text := (SELECT string_agg(format('t.%I', n), ', ') FROM unnest(p_identity) n) || format(', t.%I', p_key);
  -- "<alias>.identity = r.identity AND <alias>.key = r.key_value": a row of
  -- p_from or p_to (alias f, s or t) against a logged pair (r).
  v_match_f text := (SELECT string_agg(format('f.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n)
                    || format(' AND f.%I = r.key_value', p_key);
  v_match_s text := (SELECT string_agg(format('s.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n)
                    || format(' AND s.%I = r.key_value', p_key);
  -- With custom plans (see below) also by the batch's keys, a constant then.
  v_match_t text := (SELECT string_agg(format('t.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n)
                    || format(' AND t.%I = r.key_value', p_key);
  -- PostgreSQL 13 plans an UPDATE of a partitioned table once per partition
  -- and runs every partition's plan over the whole batch (no run-time
  -- pruning there): partitions times rows. So on 13, in a tree of keys, each
  -- key's rows are updated through the key's own level-1 partition, by a
  -- statement planned for them alone.
  v_update_per_key boolean := current_setting('server_version_num')::int < 140000 AND p_config_id IS NOT NULL;
  v_match_id text := (SELECT string_agg(format('t.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n);
  v_key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = p_to AND a.attname = p_key AND NOT a.attisdropped);
  v_key_room int := @extschema@.replay_key_room(p_to, p_lock_share);
  v_plans text;
  v_key_filter text := '';
  v_set text;
  v_columns text;
  v_values text;
  v_buckets text := '';
  v_new_rows text := 'unnest(v_new) r';
  v_from_sql text := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_from);
  v_to_sql text := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_to);
BEGIN
  -- Columns both tables have, that an INSERT or UPDATE may set.
  SELECT string_agg(format('%1$I = s.%1$I', a.attname), ', ' ORDER BY a.attnum)
           FILTER (WHERE a.attname <> ALL (p_identity) AND a.attname <> p_key AND a.attidentity <> 'a'),
         string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
         string_agg(format('s.%I', a.attname), ', ' ORDER BY a.attnum)
    INTO v_set, v_columns, v_values
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = p_to AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     AND a.attname IS DISTINCT FROM p_bucket_column
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
                  WHERE b.attrelid = p_from AND b.attname = a.attname AND NOT b.attisdropped);
  IF p_config_id IS NOT NULL THEN
    v_columns := v_columns || ', ' || quote_ident(p_bucket_column);
    v_values := v_values || ', r.bucket_id';
    -- A key's rows together (v_new is ordered by key), the keys in v_new's
    -- order: assign_buckets per key, not assign_bucket per row; the key's
    -- canonical text, as routing and the copy use (02_key_text.sql).
    v_buckets := format($buckets$
  v_buckets := '{}';
  FOR v_group_key, v_group_rows IN
    SELECT r.key_value, count(*)::int FROM unnest(v_new) WITH ORDINALITY r GROUP BY r.key_value ORDER BY min(r.ordinality)
  LOOP
    v_buckets := v_buckets || @extschema@.assign_buckets(%s, %s, v_group_rows);
  END LOOP;$buckets$,
      p_config_id, @extschema@.key_text_sql_for(p_to, p_key, 'v_group_key'));
    -- Each row to insert beside its bucket (the loop kept their order).
    v_new_rows := format('ROWS FROM (unnest(v_new), unnest(v_buckets)) r(change_id, %s, key_value, bucket_id)',
                         (SELECT string_agg(quote_ident(n), ', ') FROM unnest(p_identity) n));
  END IF;

  -- Plans: a generic plan, made once per session, covers every partition of
  -- p_to and locks all of them and their indexes each time it runs; a custom
  -- plan, made each time, keeps only the partitions of the batch's keys. So
  -- generic where the whole tree fits the connection's share of the lock
  -- table, p_lock_share (each applier and the swap's connection hold such
  -- locks at once), custom beyond (a tree of thousands of partitions, see
  -- lock-table.db.test.ts and huge-tree.db.test.ts). Custom plans still lock
  -- the partitions and indexes of every key a batch touches, until it
  -- commits: a batch then takes the entries of only as many keys as the
  -- share holds (replay_key_room).
  IF v_key_room IS NULL THEN
    v_plans := 'force_generic_plan';
  ELSE
    v_plans := 'force_custom_plan';
    -- Only here: in a generic plan the filter prunes nothing, and its guess
    -- at the share of rows it keeps (a twentieth) makes each partition look
    -- so small that scanning it whole for every row of the batch looks
    -- cheaper than an index probe per row (on 13, which plans the UPDATE once
    -- per partition, that was 1.5M comparisons per partition per batch).
    v_match_t := v_match_t || format(' AND t.%I = ANY (v_keys)', p_key);
    v_key_filter := format($filter$
        AND l.key_value IN (SELECT DISTINCT k.key_value FROM (
              SELECT k.key_value FROM @extschema@.%1$I k
               WHERE p_parts = 1 OR (hashtext(ROW(%2$s)::text) & 2147483647) %% p_parts = p_part
               ORDER BY k.change_id LIMIT p_limit) k LIMIT %3$s)$filter$,
      p_log, (SELECT string_agg(format('k.%I', n), ', ') FROM unnest(p_identity) n),
      v_key_room);
  END IF;

  -- A run prepared by an earlier version has the row-by-row replay, whose
  -- signature differs: it goes (catch-up generates the replay again as it starts).
  -- Names are spelled out with their schema in the generated code: it must
  -- not depend on the search_path of whoever runs it.
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(bigint, bigint, boolean)', p_log || '_replay');
  -- Every statement joins a batch of a few thousand rows with tables of
  -- millions: the batch must drive, with an index probe per row (into one
  -- partition of p_to, once run-time pruning has used the key). For batches
  -- this large the planner prefers hash and merge joins, which read every
  -- partition of p_to once per batch; the function turns them off for itself.
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I(p_limit bigint, p_part int, p_parts int) RETURNS bigint
LANGUAGE plpgsql
SET enable_hashjoin = off
SET enable_mergejoin = off
SET plan_cache_mode = %3$s
AS %2$L
$body$, p_log || '_replay', format($code$
DECLARE
  v_taken @extschema@.%2$I[];
  v_gone @extschema@.%2$I[];
  v_present @extschema@.%2$I[];
  v_new @extschema@.%2$I[];
  v_updated @extschema@.%2$I[];
  v_key_updated @extschema@.%2$I[];
  v_key_rows @extschema@.%2$I[];
  v_level_one text;
  v_buckets int[];
  v_group_key %15$s;
  v_group_rows int;
  v_keys %15$s[];
  -- No entry taken (p_limit 0): with generic plans, every statement runs
  -- once on no rows, so that this session has its plans before it needs them
  -- (see catch-up.ts); custom plans are made at each call anyway.
  v_warm boolean := p_limit = 0 AND %16$s;
BEGIN
  -- The ids as an array, not a join: a join (planned without knowing the
  -- limit) may scan the whole log once per entry taken.
  WITH taken AS (
    DELETE FROM @extschema@.%2$I d
     WHERE d.change_id = ANY (ARRAY(
       SELECT l.change_id FROM @extschema@.%2$I l
        WHERE (p_parts = 1 OR (hashtext(ROW(%1$s)::text) & 2147483647) %% p_parts = p_part)%17$s
        ORDER BY l.change_id LIMIT p_limit))
    RETURNING d)
  SELECT array_agg(t.d) INTO v_taken FROM taken t;
  IF v_taken IS NULL AND NOT v_warm THEN
    RETURN 0;
  END IF;
  v_keys := ARRAY(SELECT DISTINCT t.key_value FROM unnest(v_taken) t);
  -- Distinct pairs, split by whether p_from has the row (those in key order: see above).
  SELECT array_agg(ROW(0, %3$s)::@extschema@.%2$I) FILTER (WHERE NOT f.found),
         array_agg(ROW(0, %3$s)::@extschema@.%2$I ORDER BY r.key_value) FILTER (WHERE f.found)
    INTO v_gone, v_present
    FROM (SELECT DISTINCT %4$s, t.key_value FROM unnest(v_taken) t) r
    CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM %5$s f WHERE %6$s)) f(found);
  IF v_gone IS NOT NULL OR v_warm THEN
    DELETE FROM %7$s t USING unnest(v_gone) r WHERE %8$s;
  END IF;
  IF v_present IS NULL AND NOT v_warm THEN
    RETURN cardinality(v_taken);
  END IF;
  %9$s
  IF v_new IS NOT NULL OR v_warm THEN
    %10$s
    INSERT INTO %7$s (%11$s) OVERRIDING SYSTEM VALUE
    SELECT %12$s FROM %14$s JOIN %5$s s ON %13$s;
  END IF;
  RETURN coalesce(cardinality(v_taken), 0);
END
$code$,
    v_identity_list,
    p_log,
    v_pair_row,
    v_pair_list,
    v_from_sql,
    v_match_f,
    v_to_sql,
    v_match_t,
    -- The rows p_to holds are updated in place; the others are new (one
    -- statement fewer over every partition of p_to when the update says which).
    CASE WHEN v_set IS NULL
         THEN format('SELECT array_agg(r ORDER BY r.key_value) INTO v_new FROM unnest(v_present) r WHERE NOT EXISTS (SELECT 1 FROM %s t WHERE %s);',
                     v_to_sql, v_match_t)
         WHEN v_update_per_key
         THEN format($update$FOR v_level_one, v_key_rows IN
    SELECT k.level_one_partition::text, array_agg(r)
      FROM unnest(v_present) r
      JOIN @extschema@.partition_tracker k ON k.config_id = %1$s AND k.key_value = %2$s
     GROUP BY 1
  LOOP
    EXECUTE %3$L || v_level_one || %4$L INTO v_key_updated USING v_key_rows;
    v_updated := v_updated || v_key_updated;
  END LOOP;
  SELECT array_agg(ROW(0, %5$s)::@extschema@.%6$I ORDER BY r.key_value) INTO v_new
    FROM (SELECT r.* FROM unnest(v_present) r EXCEPT SELECT u.* FROM unnest(v_updated) u) r;$update$,
                     p_config_id, @extschema@.key_text_sql_for(p_to, p_key, 'r.key_value'),
                     'WITH updated AS (UPDATE ',
                     format(' t SET %s FROM unnest($1) r JOIN %s s ON %s WHERE %s RETURNING ROW(0, %s)::@extschema@.%I AS u) SELECT array_agg(u) FROM updated',
                            v_set, v_from_sql, v_match_s, v_match_id, v_target_row, p_log),
                     v_pair_row, p_log)
         ELSE format($update$WITH updated AS (
    UPDATE %1$s t SET %2$s FROM unnest(v_present) r JOIN %3$s s ON %4$s WHERE %5$s
    RETURNING ROW(0, %6$s)::@extschema@.%7$I AS u)
  SELECT array_agg(ROW(0, %8$s)::@extschema@.%7$I ORDER BY r.key_value) INTO v_new
    FROM (SELECT r.* FROM unnest(v_present) r EXCEPT SELECT (u).* FROM updated) r;$update$,
                     v_to_sql, v_set, v_from_sql, v_match_s, v_match_t, v_target_row, p_log, v_pair_row) END,
    v_buckets,
    v_columns,
    v_values,
    v_match_s,
    v_new_rows,
    v_key_type,
    CASE WHEN v_plans = 'force_generic_plan' THEN 'true' ELSE 'false' END,
    v_key_filter), v_plans);
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I(bigint, int, int) FROM PUBLIC', p_log || '_replay');

  -- <p_log>_new_keys(limit, part, parts): the canonical text of the keys of
  -- the entries the replay's next batch of that share would take that have
  -- no tracker row yet. The engine creates them (ensure_key) a transaction
  -- each before the batch: creating a key's level-1 partition takes SHARE
  -- UPDATE EXCLUSIVE on p_to, which conflicts with itself, until commit, so a
  -- batch that created keys itself held it for the whole batch, and the other
  -- appliers' new keys waited for it (a batch of thousands of new keys on
  -- PostgreSQL 13 outlasted create_partition's 5 attempts: "could not create
  -- partition ... conflicting lock"). Keys logged after the look are still
  -- created by the batch.
  IF p_config_id IS NOT NULL THEN
    EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I(p_limit bigint, p_part int, p_parts int) RETURNS SETOF text
LANGUAGE sql STABLE
AS %2$L
$body$, p_log || '_new_keys', format($code$
  SELECT DISTINCT n.key_text
    FROM (SELECT %1$s AS key_text FROM @extschema@.%2$I l
           WHERE p_parts = 1 OR (hashtext(ROW(%3$s)::text) & 2147483647) %% p_parts = p_part
           ORDER BY l.change_id LIMIT p_limit) n
   WHERE NOT EXISTS (SELECT 1 FROM @extschema@.partition_tracker t
                      WHERE t.config_id = %4$s AND t.key_value = n.key_text)
$code$, @extschema@.key_text_sql_for(p_to, p_key, 'l.key_value'), p_log, v_identity_list, p_config_id));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I(bigint, int, int) FROM PUBLIC', p_log || '_new_keys');
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.create_replay(name, regclass, regclass, name[], name, int, name, int) IS
  'Generates the function that replays a change log from one table onto another.';
