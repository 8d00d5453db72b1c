-- maintain_key: check and repair one key of a managed table, in the caller's
-- transaction. Counts the rows of each of the key's leaves (a few relations, so
-- a key at a time never exhausts the lock table) and reports:
--   missing_leaf    a bucket whose leaf partition is gone;
--   untracked_leaf  a partition of the key's level-1 partition that no bucket names;
--   over_full       a leaf holding more rows than its capacity (rows written
--                   around the routing view);
--   empty           a past bucket with no rows left (deleted);
--   tracker_drift   the current bucket holds more rows than tickets were handed
--                   out for it: the ticket counter is moved past them (repaired);
--   created_ahead   the current bucket is at least p_ahead full and the next one
--                   did not exist: it is created now, so the insert that opens it
--                   does no DDL.
-- Locks: ACCESS SHARE on each leaf while counting; those of ensure_bucket when
-- creating ahead; the key's tracker row while repairing.
CREATE OR REPLACE FUNCTION @extschema@.maintain_key(p_config_id int, p_key_value text, p_ahead numeric DEFAULT 0.8)
RETURNS TABLE (kind text, bucket_id int, leaf_partition regclass, row_count bigint, capacity bigint, detail text)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker;
  v_bucket @extschema@.partition_bucket;
  v_rows bigint;
  v_live bigint;
  v_current_rows bigint := 0;
  v_untracked regclass;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'maintenance');
  SELECT * INTO v_tracker FROM @extschema@.partition_tracker t
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: key %s of %I.%I has no tracker row', p_key_value, v_config.table_schema, v_config.table_name);
  END IF;
  IF v_tracker.in_pool THEN
    RETURN; -- its rows are in the pool's buckets: maintain_pool checks them
  END IF;

  FOR v_bucket IN
    SELECT * FROM @extschema@.partition_bucket b
     WHERE b.config_id = p_config_id AND b.key_value = p_key_value ORDER BY b.bucket_id
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_bucket.leaf_partition) THEN
      RETURN QUERY SELECT 'missing_leaf', v_bucket.bucket_id, v_bucket.leaf_partition, NULL::bigint, v_bucket.capacity,
                          'the leaf partition of this bucket does not exist';
      CONTINUE;
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', v_bucket.leaf_partition) INTO v_rows;
    IF v_bucket.bucket_id = v_tracker.current_bucket_id THEN
      v_current_rows := v_rows;
    END IF;
    IF v_rows > v_bucket.capacity THEN
      RETURN QUERY SELECT 'over_full', v_bucket.bucket_id, v_bucket.leaf_partition, v_rows, v_bucket.capacity,
                          format('%s rows in a bucket of %s', v_rows, v_bucket.capacity);
    ELSIF v_rows = 0 AND v_bucket.bucket_id < v_tracker.current_bucket_id THEN
      RETURN QUERY SELECT 'empty', v_bucket.bucket_id, v_bucket.leaf_partition, v_rows, v_bucket.capacity,
                          'a past bucket with no rows left';
    END IF;
  END LOOP;

  FOR v_untracked IN
    SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
     WHERE i.inhparent = v_tracker.level_one_partition
       AND i.inhrelid NOT IN (SELECT b.leaf_partition FROM @extschema@.partition_bucket b
                               WHERE b.config_id = p_config_id AND b.key_value = p_key_value)
  LOOP
    RETURN QUERY SELECT 'untracked_leaf', NULL::int, v_untracked, NULL::bigint, NULL::bigint,
                        'a partition that no bucket of this key names';
  END LOOP;

  v_live := greatest(v_tracker.rows_assigned,
                     coalesce(CASE WHEN v_tracker.ticket_sequence IS NOT NULL
                                   THEN pg_catalog.pg_sequence_last_value(v_tracker.ticket_sequence) END, 0));
  -- Rows in the current bucket that no ticket accounts for: move the counter
  -- past them so the bucket is never filled beyond its capacity.
  IF v_current_rows > v_live - v_tracker.current_first_ticket + 1 THEN
    RETURN QUERY SELECT 'tracker_drift', v_tracker.current_bucket_id, v_tracker.current_leaf, v_current_rows,
                        v_tracker.current_capacity,
                        format('%s rows but %s tickets handed out; counter moved to %s', v_current_rows,
                               greatest(v_live - v_tracker.current_first_ticket + 1, 0),
                               v_tracker.current_first_ticket + v_current_rows - 1);
    v_live := v_tracker.current_first_ticket + v_current_rows - 1;
    IF v_tracker.ticket_sequence IS NOT NULL THEN
      PERFORM pg_catalog.setval(v_tracker.ticket_sequence, v_live, true);
    END IF;
  END IF;

  IF p_ahead IS NOT NULL
     AND v_live - v_tracker.current_first_ticket + 1 >= p_ahead * v_tracker.current_capacity
     AND NOT EXISTS (SELECT 1 FROM @extschema@.partition_bucket b
                      WHERE b.config_id = p_config_id AND b.key_value = p_key_value
                        AND b.bucket_id = v_tracker.current_bucket_id + 1) THEN
    v_bucket := @extschema@.ensure_bucket(p_config_id, p_key_value, v_tracker.current_bucket_id + 1,
                                          v_tracker.current_first_ticket + v_tracker.current_capacity,
                                          coalesce(v_tracker.bucket_limit, v_config.bucket_limit));
    RETURN QUERY SELECT 'created_ahead', v_bucket.bucket_id, v_bucket.leaf_partition, 0::bigint, v_bucket.capacity,
                        'next bucket created ahead of need';
  END IF;

  UPDATE @extschema@.partition_tracker t
     SET rows_assigned = v_live, last_updated = now()
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value;
END;
$$;
COMMENT ON FUNCTION @extschema@.maintain_key(int, text, numeric) IS
  'Checks one key: reports missing, untracked, over-full and empty buckets, repairs ticket drift, creates the next bucket ahead.';

-- maintain: the pool of small keys (if the table has one) a group of leaves
-- per transaction (pool_leaf_batches: a pool of thousands of buckets holds
-- more leaves than the lock table), then maintain_key for every key of a
-- table, one transaction per key, findings written to maintenance_finding.
-- Call it outside a transaction block:
--   CALL partwise.maintain(1);
-- Each of its transactions is READ COMMITTED, whatever the session's
-- default_transaction_isolation: maintain_key and maintain_pool_state lock
-- the tracker's (or the pool's) row, which a routed insert opening a bucket
-- holds, then count rows. In a snapshot taken before that wait (REPEATABLE
-- READ, the default a DBA may give a database or role) the lock fails with a
-- serialization error once the insert commits, and the whole run stops at
-- that key (isolation-guard.db.test.ts). Set here rather than refused (as
-- the key actions do, require_read_committed): maintenance runs from cron
-- and pg_cron on databases whose default is not the program's to change,
-- and this procedure owns its transactions. The CALL's own transaction took
-- its snapshot with the call, so it is committed first (nothing is done
-- yet); each COMMIT after it is followed by the setting, the first statement
-- of the next transaction.
CREATE OR REPLACE PROCEDURE @extschema@.maintain(p_config_id int, p_ahead numeric DEFAULT 0.8)
LANGUAGE plpgsql
AS $$
DECLARE
  v_key text;
  v_buckets int[];
  v_key_rows jsonb := '{}';
BEGIN
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    COMMIT;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  END IF;
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'maintenance');
  FOR v_buckets IN SELECT * FROM @extschema@.pool_leaf_batches(p_config_id) LOOP
    INSERT INTO @extschema@.maintenance_finding (config_id, key_value, kind, bucket_id, leaf_partition, row_count, capacity, detail)
    SELECT p_config_id, f.key_value, f.kind, f.bucket_id, f.leaf_partition::text, f.row_count, f.capacity, f.detail
      FROM @extschema@.maintain_pool_leaves(p_config_id, v_buckets) f;
    SELECT v_key_rows || coalesce(jsonb_object_agg(r.key_value, r.row_count + coalesce((v_key_rows ->> r.key_value)::bigint, 0)), '{}')
      INTO v_key_rows FROM @extschema@.pool_key_rows(p_config_id, v_buckets) r;
    COMMIT;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  END LOOP;
  INSERT INTO @extschema@.maintenance_finding (config_id, key_value, kind, bucket_id, leaf_partition, row_count, capacity, detail)
  SELECT p_config_id, f.key_value, f.kind, f.bucket_id, f.leaf_partition::text, f.row_count, f.capacity, f.detail
    FROM @extschema@.maintain_pool_state(p_config_id, p_ahead, v_key_rows) f;
  COMMIT;
  SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  FOR v_key IN SELECT key_value FROM @extschema@.partition_tracker WHERE config_id = p_config_id ORDER BY key_value LOOP
    INSERT INTO @extschema@.maintenance_finding (config_id, key_value, kind, bucket_id, leaf_partition, row_count, capacity, detail)
    SELECT p_config_id, v_key, f.kind, f.bucket_id, f.leaf_partition::text, f.row_count, f.capacity, f.detail
      FROM @extschema@.maintain_key(p_config_id, v_key, p_ahead) f;
    COMMIT;
    SET TRANSACTION ISOLATION LEVEL READ COMMITTED;
  END LOOP;
END;
$$;
COMMENT ON PROCEDURE @extschema@.maintain(int, numeric) IS
  'Runs maintain_key over every key of a table, one transaction per key, recording findings.';
