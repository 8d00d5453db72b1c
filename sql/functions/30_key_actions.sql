-- Actions on one key of a managed table (partwise key ...): the state
-- changes, checks and catalog work that must happen in one transaction. The
-- DDL that may not run inside a function (DETACH PARTITION ... CONCURRENTLY,
-- VACUUM) is issued by the engine (electron/engine/keys/) between these calls.

-- key_tracker_for(config, key): the tracker row of a key, locked FOR UPDATE
-- until the end of the transaction (routing's ticket and bucket opening wait
-- on it, never its plain reads). A key that does not exist, or was dropped,
-- raises a clear error.
CREATE OR REPLACE FUNCTION @extschema@.key_tracker_for(p_config_id int, p_key_value text)
RETURNS @extschema@.partition_tracker
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker;
  v_retired @extschema@.retired_key;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'a key action');
  SELECT * INTO v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value
     FOR UPDATE;
  IF FOUND THEN
    RETURN v_tracker;
  END IF;
  SELECT * INTO v_retired FROM @extschema@.retired_key WHERE config_id = p_config_id AND key_value = p_key_value;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: key %s of %I.%I was dropped on %s; it has no partitions',
                       p_key_value, v_config.table_schema, v_config.table_name,
                       to_char(v_retired.retired_at, 'YYYY-MM-DD HH24:MI:SS TZ'));
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'undefined_object',
    MESSAGE = format('partwise: %I.%I has no key %s (%I = %s has no partition)',
                     v_config.table_schema, v_config.table_name, p_key_value, v_config.key_column, p_key_value),
    HINT = 'Check the value; the Explorer lists the keys of the table.';
END;
$$;
COMMENT ON FUNCTION @extschema@.key_tracker_for(int, text) IS
  'Tracker row of an existing key, locked; a clear error for an unknown or dropped key.';

-- key_refuse_pooled(tracker, action): raises for a key that shares the pool
-- of small keys (17_key_pool.sql): detach, attach, drop, limit, move and
-- compact act on a key's own partitions, and it has none. The engine
-- isolates such a key first (electron/engine/keys/run.ts), or refuses a
-- compaction in the plan; this keeps a direct call from detaching the pool.
CREATE OR REPLACE FUNCTION @extschema@.key_refuse_pooled(p_tracker @extschema@.partition_tracker, p_action text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config;
BEGIN
  IF p_tracker.in_pool THEN
    v_config := @extschema@.config_by_id(p_tracker.config_id);
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: key %s of %I.%I shares the pool %s with the table''s other small keys; %s acts on a key''s own partitions, and this key has none',
                       p_tracker.key_value, v_config.table_schema, v_config.table_name, p_tracker.level_one_partition, p_action);
  END IF;
END;
$$;

-- key_begin(config, key, action): moves the key into the state of an action
-- under way and returns the state it had. Running an action again after an
-- interruption finds the key in that action's state and continues. An action
-- that has nothing to do returns the state unchanged (detach of a detached
-- key, attach of an active one). Locks the key's tracker row until commit.
CREATE OR REPLACE FUNCTION @extschema@.key_begin(p_config_id int, p_key_value text, p_action text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker := @extschema@.key_tracker_for(p_config_id, p_key_value);
  v_to text := CASE p_action WHEN 'detach' THEN 'detaching' WHEN 'attach' THEN 'attaching' WHEN 'drop' THEN 'dropping' END;
BEGIN
  IF v_to IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: %s is not a key action that changes the state of a key', p_action);
  END IF;
  PERFORM @extschema@.key_refuse_pooled(v_tracker, p_action);
  IF (p_action = 'detach' AND v_tracker.state = 'detached') OR (p_action = 'attach' AND v_tracker.state = 'active') THEN
    RETURN v_tracker.state;
  END IF;
  -- A drop is finished by running drop again; neither detach nor attach may cut into it.
  IF v_tracker.state = 'dropping' AND p_action <> 'drop' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: key %s of %I.%I is being dropped; run the drop again to finish it',
                       p_key_value, v_config.table_schema, v_config.table_name);
  END IF;
  UPDATE @extschema@.partition_tracker
     SET state = v_to, state_changed_at = now()
   WHERE config_id = p_config_id AND key_value = p_key_value;
  RETURN v_tracker.state;
END;
$$;
COMMENT ON FUNCTION @extschema@.key_begin(int, text, text) IS
  'Puts a key into the state of a detach, attach or drop under way; returns its previous state.';

-- key_finish(config, key, state): the state a key reaches at the end of a
-- detach (detached) or attach (active). Locks the key's tracker row.
CREATE OR REPLACE FUNCTION @extschema@.key_finish(p_config_id int, p_key_value text, p_state text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM @extschema@.key_tracker_for(p_config_id, p_key_value);
  UPDATE @extschema@.partition_tracker
     SET state = p_state, state_changed_at = now()
   WHERE config_id = p_config_id AND key_value = p_key_value;
END;
$$;

-- key_refused: the error a row of a key that is not active meets in routing
-- (assign_bucket), or of a dropped key whose rows are refused (ensure_key).
-- Names the table, the key and where its rows are.
CREATE OR REPLACE FUNCTION @extschema@.key_refused(p_config_id int, p_key_value text, p_state text, p_level_one regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_table text := format('%I.%I', v_config.table_schema, v_config.table_name);
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
    MESSAGE = CASE
      WHEN p_state = 'retired' THEN
        format('partwise: key %s of %s was dropped; new rows of this key are refused', p_key_value, v_table)
      WHEN p_state IN ('detached', 'detaching') THEN
        format('partwise: key %s of %s is detached (its rows are in table %s); new rows of this key are refused',
               p_key_value, v_table, p_level_one)
      ELSE
        format('partwise: key %s of %s is being %s; new rows of this key are refused meanwhile',
               p_key_value, v_table, CASE p_state WHEN 'attaching' THEN 'attached' ELSE 'dropped' END)
    END,
    SCHEMA = v_config.table_schema, TABLE = v_config.table_name, COLUMN = v_config.key_column,
    HINT = CASE
      WHEN p_state = 'retired' THEN
        format('The drop chose to refuse them; partwise key readmit --table %s --value %s lets the key be created again.',
               v_table, p_key_value)
      WHEN p_state IN ('detached', 'detaching') THEN
        format('partwise key attach --table %s --value %s brings the key back.', v_table, p_key_value)
      ELSE
        'Wait for the action on the key to end; if it was interrupted, run it again (partwise key ...).'
    END;
END;
$$;

-- key_drop_partitions(config, key, on_insert): drops a detached key's
-- partitions, its ticket counter, its entries in the table's unique
-- registries and all its metadata, and records the key as retired with what
-- a later row of it meets (refuse or recreate). Returns the rows and bytes
-- dropped. The key must be in state dropping with its level-1 partition out
-- of the tree. Locks: ACCESS EXCLUSIVE on the detached table and its
-- partitions (nobody routes to them any more); the key's tracker row.
CREATE OR REPLACE FUNCTION @extschema@.key_drop_partitions(
  p_config_id int, p_key_value text, p_on_insert text, OUT rows_dropped bigint, OUT bytes_dropped bigint)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker;
  v_registry @extschema@.unique_registry;
BEGIN
  -- Counts the rows and clears their registry entries after the lock: see
  -- require_read_committed.
  PERFORM @extschema@.require_read_committed('key_drop_partitions (partwise key drop)');
  v_tracker := @extschema@.key_tracker_for(p_config_id, p_key_value);
  IF v_tracker.state <> 'dropping' OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits
                                                WHERE inhrelid = v_tracker.level_one_partition) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: key %s of %I.%I must be detached before its partitions are dropped',
                       p_key_value, v_config.table_schema, v_config.table_name);
  END IF;
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_tracker.level_one_partition);
  EXECUTE format('SELECT count(*) FROM %s', v_tracker.level_one_partition) INTO rows_dropped;
  SELECT coalesce(sum(pg_catalog.pg_total_relation_size(p.relid)), 0) INTO bytes_dropped
    FROM pg_catalog.pg_partition_tree(v_tracker.level_one_partition) p;
  -- The registries hold the key's values for uniqueness across the table;
  -- they go with the rows (found by the row identity stored beside them).
  FOR v_registry IN SELECT * FROM @extschema@.unique_registry WHERE config_id = p_config_id AND enforced LOOP
    EXECUTE format('DELETE FROM @extschema@.%I r USING (SELECT DISTINCT %s FROM %s) l WHERE %s',
                   v_registry.registry_table,
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_registry.identity_columns) c),
                   v_tracker.level_one_partition,
                   -- Equality, as sync_unique_registries matches them: it uses the
                   -- registry's index on the row identity (IS NOT DISTINCT FROM would
                   -- compare every entry with every row).
                   (SELECT string_agg(format('r.%1$I = l.%1$I', c), ' AND ')
                      FROM unnest(v_registry.identity_columns) c));
  END LOOP;
  EXECUTE format('DROP TABLE %s', v_tracker.level_one_partition);
  IF v_tracker.ticket_sequence IS NOT NULL THEN
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_tracker.ticket_sequence);
  END IF;
  DELETE FROM @extschema@.maintenance_finding WHERE config_id = p_config_id AND key_value = p_key_value;
  DELETE FROM @extschema@.partition_tracker WHERE config_id = p_config_id AND key_value = p_key_value;
  INSERT INTO @extschema@.retired_key (config_id, key_value, on_insert, rows_dropped, bytes_dropped)
  VALUES (p_config_id, p_key_value, p_on_insert, rows_dropped, bytes_dropped)
  ON CONFLICT (config_id, key_value) DO UPDATE
     SET on_insert = EXCLUDED.on_insert, rows_dropped = EXCLUDED.rows_dropped,
         bytes_dropped = EXCLUDED.bytes_dropped, retired_at = now(), retired_by = current_user;
END;
$$;
COMMENT ON FUNCTION @extschema@.key_drop_partitions(int, text, text) IS
  'Drops a detached key''s partitions and metadata and records it as retired.';

-- key_readmit(config, key): a dropped key whose rows were refused may be
-- created again by its next row. Locks the retired_key row.
CREATE OR REPLACE FUNCTION @extschema@.key_readmit(p_config_id int, p_key_value text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  DELETE FROM @extschema@.retired_key WHERE config_id = p_config_id AND key_value = p_key_value;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: key %s of %I.%I was not dropped', p_key_value, v_config.table_schema, v_config.table_name);
  END IF;
END;
$$;

-- set_key_bucket_limit(config, key, limit): the bucket limit of one key, for
-- buckets opened from now on (NULL: the table's limit again). Existing
-- buckets keep their capacity. Locks the key's tracker row until commit, so
-- that a bucket being opened meanwhile uses one limit or the other, whole.
CREATE OR REPLACE FUNCTION @extschema@.set_key_bucket_limit(p_config_id int, p_key_value text, p_bucket_limit bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  IF p_bucket_limit IS NOT NULL AND p_bucket_limit <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: bucket limit must be a positive integer, got %s', p_bucket_limit);
  END IF;
  PERFORM @extschema@.key_refuse_pooled(@extschema@.key_tracker_for(p_config_id, p_key_value), 'limit');
  UPDATE @extschema@.partition_tracker
     SET bucket_limit = p_bucket_limit, last_updated = now()
   WHERE config_id = p_config_id AND key_value = p_key_value;
END;
$$;
COMMENT ON FUNCTION @extschema@.set_key_bucket_limit(int, text, bigint) IS
  'Sets (or clears, with NULL) the bucket limit of one key for buckets opened from now on.';

-- key_attach_partition(config, key): attaches a detached key's level-1
-- partition back to the partitioned table, unless it is in the tree already.
-- PostgreSQL checks every row of it against the key while attaching (a row of
-- another key written into the detached table makes the attach fail, and
-- nothing changes). Locks: SHARE UPDATE EXCLUSIVE on the partitioned table
-- (reads and writes go on) and ACCESS EXCLUSIVE on the detached table, for
-- the check; the key's tracker row.
CREATE OR REPLACE FUNCTION @extschema@.key_attach_partition(p_config_id int, p_key_value text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker := @extschema@.key_tracker_for(p_config_id, p_key_value);
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = v_tracker.level_one_partition) THEN
    RETURN;
  END IF;
  EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %s FOR VALUES IN (%L)',
                 v_config.table_schema, v_config.partitioned_table, v_tracker.level_one_partition, p_key_value);
END;
$$;
COMMENT ON FUNCTION @extschema@.key_attach_partition(int, text) IS
  'Attaches a detached key''s level-1 partition back to its table.';

-- key_compact_batch(config, key, source, target, rows): moves up to p_rows
-- rows of a key from bucket p_source to bucket p_target (both closed: every
-- ticket of theirs handed out), by an UPDATE of the bucket column through the
-- partitioned table, which PostgreSQL carries out as a move between leaves
-- (the table's row triggers fire as for any UPDATE of that column). Returns
-- the rows moved.
--
-- Locks, and why: EXCLUSIVE on the source leaf until commit, taken before any
-- row. Reads of the leaf go on; UPDATE, DELETE and SELECT ... FOR UPDATE of
-- its rows wait for the lock, not for a row lock. A statement that waited on
-- a row lock of a row moved to another partition would fail with "tuple to be
-- locked was already moved to another partition due to concurrent update";
-- one that waits for the table lock takes its snapshot after this commit and
-- finds the row in its new leaf. ROW EXCLUSIVE on the target leaf (inserts).
-- The engine calls it under a short lock_timeout and retries.
CREATE OR REPLACE FUNCTION @extschema@.key_compact_batch(
  p_config_id int, p_key_value text, p_source int, p_target int, p_rows int)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_source regclass;
  v_moved bigint;
BEGIN
  -- Picks the rows to move after the lock: see require_read_committed.
  PERFORM @extschema@.require_read_committed('key_compact_batch (partwise key compact)');
  SELECT leaf_partition INTO v_source FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = p_key_value AND bucket_id = p_source;
  IF v_source IS NULL OR NOT EXISTS (SELECT 1 FROM @extschema@.partition_bucket
                                      WHERE config_id = p_config_id AND key_value = p_key_value
                                        AND bucket_id = p_target) THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: key %s of %I.%I has no bucket %s or %s',
                       p_key_value, v_config.table_schema, v_config.table_name, p_source, p_target);
  END IF;
  EXECUTE format('LOCK TABLE %s IN EXCLUSIVE MODE', v_source);
  -- The key as a literal, so that the planner prunes to the key's partition
  -- (the bucket then to the source leaf) whatever the key column's type.
  EXECUTE format('UPDATE %I.%I SET %I = $1 WHERE %I = %L AND %I = $2'
                 ' AND ctid = ANY (ARRAY(SELECT ctid FROM %s LIMIT $3))',
                 v_config.table_schema, v_config.partitioned_table, v_config.bucket_column,
                 v_config.key_column, p_key_value, v_config.bucket_column, v_source)
    USING p_target, p_source, p_rows;
  GET DIAGNOSTICS v_moved = ROW_COUNT;
  RETURN v_moved;
END;
$$;
COMMENT ON FUNCTION @extschema@.key_compact_batch(int, text, int, int, int) IS
  'Moves a batch of a key''s rows from one closed bucket to another (compaction).';

-- key_drop_empty_buckets(config, key, buckets): drops the leaves of those
-- closed buckets of a key that hold no row, and forgets the buckets; returns
-- the ids dropped. A bucket that still holds a row (written since it was
-- emptied) is kept. The key's current bucket and those ahead of it are never
-- dropped: routing places rows there.
--
-- Locks: ACCESS EXCLUSIVE on the key's level-1 partition (DROP TABLE of a
-- partition takes it on the parent) and on the dropped leaves, until commit:
-- the key's reads and writes wait that long (milliseconds: the leaves are
-- empty). Requested first, under the engine's short lock_timeout, and
-- retried. The key's tracker row is not locked: a routed insert that opens a
-- bucket holds it while it attaches a leaf to the level-1 partition, and
-- taking the two in the other order could deadlock with it.
CREATE OR REPLACE FUNCTION @extschema@.key_drop_empty_buckets(p_config_id int, p_key_value text, p_buckets int[])
RETURNS int[]
LANGUAGE plpgsql
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
  v_bucket @extschema@.partition_bucket;
  v_dropped int[] := '{}';
  v_empty boolean;
BEGIN
  -- Decides that a leaf is empty after the lock: see require_read_committed.
  PERFORM @extschema@.require_read_committed('key_drop_empty_buckets (partwise key compact)');
  SELECT * INTO STRICT v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value;
  PERFORM @extschema@.key_refuse_pooled(v_tracker, 'compact');
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_tracker.level_one_partition);
  FOR v_bucket IN SELECT * FROM @extschema@.partition_bucket
                   WHERE config_id = p_config_id AND key_value = p_key_value
                     AND bucket_id = ANY (p_buckets) AND bucket_id < v_tracker.current_bucket_id
                   ORDER BY bucket_id LOOP
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', v_bucket.leaf_partition) INTO v_empty;
    CONTINUE WHEN NOT v_empty;
    EXECUTE format('DROP TABLE %s', v_bucket.leaf_partition);
    DELETE FROM @extschema@.partition_bucket
     WHERE config_id = p_config_id AND key_value = p_key_value AND bucket_id = v_bucket.bucket_id;
    DELETE FROM @extschema@.maintenance_finding
     WHERE config_id = p_config_id AND key_value = p_key_value AND bucket_id = v_bucket.bucket_id;
    v_dropped := v_dropped || v_bucket.bucket_id;
  END LOOP;
  RETURN v_dropped;
END;
$$;
COMMENT ON FUNCTION @extschema@.key_drop_empty_buckets(int, text, int[]) IS
  'Drops the empty leaves of closed buckets of a key (the end of a compaction).';
