-- ensure_key(config, key value): the tracker row of a key, creating the key's
-- level-1 partition, its first bucket and the tracker row if the key is new.
-- The key value must be canonical (see 02_key_text.sql): routing, the copy
-- and provision_key make it so.
--
-- A key dropped with "refuse" (retired_key) raises instead. A new key of a
-- table whose small keys share (placement 'shared') is pooled: a tracker row
-- only, no partition.
--
-- Locks: an advisory transaction lock per (table, key), so that concurrent first
-- inserts of one new key create its partitions once (the others wait for the
-- first to commit, then read its row); plus those of create_partition.
-- In REPEATABLE READ or SERIALIZABLE transactions a key created concurrently by
-- another transaction surfaces as a serialization failure: retry the transaction.
CREATE OR REPLACE FUNCTION @extschema@.ensure_key(p_config_id int, p_key_value text, p_online boolean DEFAULT true)
RETURNS @extschema@.partition_tracker
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker;
  v_level_one name;
  v_leaf name;
  v_on_insert text;
BEGIN
  IF p_key_value IS NULL THEN
    RAISE EXCEPTION USING
      ERRCODE = 'not_null_violation',
      MESSAGE = format('partwise: %I of %I.%I is NULL; a row without a key cannot be placed in a partition',
                       v_config.key_column, v_config.table_schema, v_config.table_name),
      SCHEMA = v_config.table_schema, TABLE = v_config.table_name, COLUMN = v_config.key_column;
  END IF;

  SELECT * INTO v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value;
  IF FOUND THEN
    RETURN v_tracker;
  END IF;

  PERFORM pg_advisory_xact_lock(hashtext('partwise.key'), hashtext(p_config_id || '/' || p_key_value));
  SELECT * INTO v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value;
  IF FOUND THEN
    RETURN v_tracker;
  END IF;
  -- A dropped key (partwise key drop): refused, or created again as new.
  SELECT on_insert INTO v_on_insert FROM @extschema@.retired_key
   WHERE config_id = p_config_id AND key_value = p_key_value;
  IF v_on_insert = 'refuse' THEN
    PERFORM @extschema@.key_refused(p_config_id, p_key_value, 'retired', NULL);
  ELSIF v_on_insert = 'recreate' THEN
    DELETE FROM @extschema@.retired_key WHERE config_id = p_config_id AND key_value = p_key_value;
  END IF;
  -- Small keys share (17_key_pool.sql): a new key of such a table starts in
  -- the pool, and no partition is made.
  IF v_config.placement = 'shared' THEN
    RETURN @extschema@.pool_key(p_config_id, p_key_value);
  END IF;

  v_level_one := @extschema@.create_partition(v_config.table_schema, v_config.partitioned_table,
                                              v_config.name_stem || '_' || @extschema@.key_tag(p_key_value), '',
                                              p_key_value, v_config.bucket_column, p_online);
  -- Before its first leaf, which then gets the guard's clone as it is made.
  PERFORM @extschema@.guard_level_one(p_config_id, format('%I.%I', v_config.table_schema, v_level_one)::regclass);
  v_leaf := @extschema@.create_partition(v_config.table_schema, v_level_one,
                                         v_level_one, '_' || v_config.bucket_column || '_0', '0', NULL, p_online,
                                         v_config.leaf_options);

  INSERT INTO @extschema@.partition_tracker AS t
         (config_id, key_value, level_one_partition, current_bucket_id, current_leaf,
          current_first_ticket, current_capacity, rows_assigned)
  VALUES (p_config_id, p_key_value, format('%I.%I', v_config.table_schema, v_level_one)::regclass, 0,
          format('%I.%I', v_config.table_schema, v_leaf)::regclass, 1, v_config.bucket_limit, 0)
  -- A transaction committed this key after this one's snapshot was taken
  -- (REPEATABLE READ or SERIALIZABLE; READ COMMITTED saw its row above):
  -- ON CONFLICT makes that the serialization failure such applications retry.
  ON CONFLICT (config_id, key_value) DO NOTHING
  RETURNING * INTO v_tracker;
  INSERT INTO @extschema@.partition_bucket (config_id, key_value, bucket_id, leaf_partition, first_ticket, capacity)
  VALUES (p_config_id, p_key_value, 0, v_tracker.current_leaf, 1, v_config.bucket_limit);
  RETURN v_tracker;
END;
$$;
COMMENT ON FUNCTION @extschema@.ensure_key(int, text, boolean) IS
  'Tracker row of a key value; creates its level-1 partition and first bucket when the key is new.';
