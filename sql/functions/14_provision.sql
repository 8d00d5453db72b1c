-- provision_key: create the level-1 partition of a key and enough buckets for
-- p_rows rows, ahead of need. With p_rows_are_loaded, the rows are already
-- (or about to be) written by a bulk load that numbered them 1..p_rows, bucket
-- (n - 1) / limit: the tracker then records them as handed out, so the next
-- routed insert continues after them. A row count that is an exact multiple of
-- the limit leaves the last bucket full, and the next row opens a new one.
-- The key value may be written any way the key type accepts ('1.00' for a
-- numeric key): it is stored in its canonical text.
-- Locks: those of ensure_key and ensure_bucket; offline (p_online false) it
-- uses CREATE TABLE ... PARTITION OF, for trees that nobody uses yet.
CREATE OR REPLACE FUNCTION @extschema@.provision_key(
  p_config_id int, p_key_value text, p_rows bigint,
  p_online boolean DEFAULT true, p_rows_are_loaded boolean DEFAULT false)
RETURNS @extschema@.partition_tracker
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_tracker @extschema@.partition_tracker;
  v_key text;
  v_buckets int;
  v_bucket @extschema@.partition_bucket;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'provisioning');
  IF p_rows IS NULL OR p_rows < 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: expected row count must be zero or more, got %s', coalesce(p_rows::text, 'NULL'));
  END IF;
  v_key := @extschema@.canonical_key(p_config_id, p_key_value);
  v_tracker := @extschema@.ensure_key(p_config_id, v_key, p_online);
  IF p_rows_are_loaded AND v_tracker.rows_assigned > 0 THEN
    RAISE EXCEPTION USING MESSAGE = format('partwise: key %s of %I.%I already has rows assigned', v_key,
                                           v_config.table_schema, v_config.table_name);
  END IF;
  -- Buckets past the first follow the last existing one.
  v_buckets := greatest(ceil(p_rows::numeric / v_config.bucket_limit)::int, 1);
  SELECT * INTO v_bucket FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = v_key ORDER BY bucket_id DESC LIMIT 1;
  WHILE v_bucket.bucket_id < v_buckets - 1 LOOP
    v_bucket := @extschema@.ensure_bucket(p_config_id, v_key, v_bucket.bucket_id + 1,
                                          v_bucket.first_ticket + v_bucket.capacity, v_config.bucket_limit, p_online);
  END LOOP;
  IF p_rows_are_loaded AND p_rows > 0 THEN
    SELECT * INTO STRICT v_bucket FROM @extschema@.partition_bucket
     WHERE config_id = p_config_id AND key_value = v_key AND first_ticket <= p_rows
     ORDER BY first_ticket DESC LIMIT 1;
    UPDATE @extschema@.partition_tracker
       SET current_bucket_id = v_bucket.bucket_id,
           current_leaf = v_bucket.leaf_partition,
           current_first_ticket = v_bucket.first_ticket,
           current_capacity = v_bucket.capacity,
           rows_assigned = p_rows,
           last_updated = now()
     WHERE config_id = p_config_id AND key_value = v_key
    RETURNING * INTO v_tracker;
  END IF;
  RETURN v_tracker;
END;
$$;
COMMENT ON FUNCTION @extschema@.provision_key(int, text, bigint, boolean, boolean) IS
  'Pre-creates a key''s level-1 partition and the buckets for an expected row count.';

-- provision: pre-create the hierarchy for a known distribution, committing
-- after every key so that a large tree never holds thousands of locks in one
-- transaction. Call it outside a transaction block:
--   CALL partwise.provision(1, ARRAY['100','200'], ARRAY[250000, 1000]);
CREATE OR REPLACE PROCEDURE @extschema@.provision(p_config_id int, p_keys text[], p_rows bigint[])
LANGUAGE plpgsql
AS $$
BEGIN
  IF cardinality(p_keys) IS DISTINCT FROM cardinality(p_rows) THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = 'partwise: provision needs one expected row count per key';
  END IF;
  FOR i IN 1 .. coalesce(cardinality(p_keys), 0) LOOP
    PERFORM @extschema@.provision_key(p_config_id, p_keys[i], p_rows[i]);
    COMMIT;
  END LOOP;
END;
$$;
COMMENT ON PROCEDURE @extschema@.provision(int, text[], bigint[]) IS
  'Pre-creates the partition hierarchy for a known key distribution, one transaction per key.';

-- Bulk provisioning for a migration, in three steps that a migration runs in
-- parallel connections: level-1 partitions (each locks the partitioned table,
-- so one connection makes them, many per transaction), then the buckets of
-- each key (each locks only its level-1 partition, so several connections
-- make them at once), then, once the rows are loaded, the metadata of every
-- key in one statement. Offline DDL (CREATE TABLE ... PARTITION OF): the
-- tree is not in use yet. Each step is idempotent, for resumed migrations.

-- create_level_one_partitions: the level-1 partition of each key (canonical
-- key texts), under the first free candidate name; returns the names.
CREATE OR REPLACE FUNCTION @extschema@.create_level_one_partitions(p_config_id int, p_keys text[])
RETURNS TABLE (key_value text, level_one name)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_key text;
  v_name name;
BEGIN
  FOREACH v_key IN ARRAY p_keys LOOP
    v_name := @extschema@.create_partition(v_config.table_schema, v_config.partitioned_table,
                                           v_config.name_stem || '_' || @extschema@.key_tag(v_key), '',
                                           v_key, v_config.bucket_column, false);
    -- Before its buckets, which then get the guard's clone as they are made.
    PERFORM @extschema@.guard_level_one(p_config_id, format('%I.%I', v_config.table_schema, v_name)::regclass);
    key_value := v_key;
    level_one := v_name;
    RETURN NEXT;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.create_level_one_partitions(int, text[]) IS
  'Creates the level-1 partitions of many keys (offline), returning their names.';

-- create_bucket_partitions: p_buckets[i] buckets of each key's level-1
-- partition, from bucket p_first[i] (0 when p_first is NULL), with
-- autovacuum held off until after the swap (filling_leaf_options). A key
-- with more buckets than a transaction may lock is made a range per call
-- (copy.ts).
DROP FUNCTION IF EXISTS @extschema@.create_bucket_partitions(int, name[], int[]);
CREATE OR REPLACE FUNCTION @extschema@.create_bucket_partitions(
  p_config_id int, p_level_ones name[], p_buckets int[], p_first int[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_first int;
BEGIN
  FOR i IN 1 .. coalesce(cardinality(p_level_ones), 0) LOOP
    v_first := coalesce(p_first[i], 0);
    FOR b IN v_first .. v_first + greatest(p_buckets[i], 1) - 1 LOOP
      PERFORM @extschema@.create_partition(v_config.table_schema, p_level_ones[i],
                                           p_level_ones[i], '_' || v_config.bucket_column || '_' || b,
                                           b::text, NULL, false,
                                           @extschema@.filling_leaf_options(v_config.leaf_options));
    END LOOP;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.create_bucket_partitions(int, name[], int[], int[]) IS
  'Creates the bucket partitions of many level-1 partitions (offline).';

-- register_loaded_keys: tracker and bucket rows for keys whose rows a bulk
-- load numbered 1..n (bucket = (n - 1) / limit), their leaves found under
-- the names create_bucket_partitions gave them: the tracker records n tickets
-- handed out, so routed inserts continue after them. An exact multiple of the
-- limit leaves the last bucket full; the next row opens a new one. A key with
-- more leaves than its rows need (made by an interrupted run before the key
-- lost rows) has them all recorded, as buckets ahead: the indexes are built
-- on the leaves the metadata lists.
CREATE OR REPLACE FUNCTION @extschema@.register_loaded_keys(p_config_id int, p_keys text[], p_level_ones name[], p_rows bigint[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  INSERT INTO @extschema@.partition_tracker AS t
         (config_id, key_value, level_one_partition, current_bucket_id, current_leaf,
          current_first_ticket, current_capacity, rows_assigned)
  SELECT p_config_id, k.key_value, format('%I.%I', v_config.table_schema, k.level_one)::regclass, k.current_bucket,
         @extschema@.existing_partition(v_config.table_schema, format('%I.%I', v_config.table_schema, k.level_one)::regclass,
                                        k.level_one, '_' || v_config.bucket_column || '_' || k.current_bucket),
         k.current_bucket::bigint * v_config.bucket_limit + 1, v_config.bucket_limit, k.row_count
    FROM (SELECT u.key_value, u.level_one, u.row_count,
                 greatest(ceil(u.row_count::numeric / v_config.bucket_limit)::int - 1, 0) AS current_bucket
            FROM unnest(p_keys, p_level_ones, p_rows) AS u(key_value, level_one, row_count)) k
  ON CONFLICT (config_id, key_value) DO UPDATE
     SET current_bucket_id = EXCLUDED.current_bucket_id, current_leaf = EXCLUDED.current_leaf,
         current_first_ticket = EXCLUDED.current_first_ticket, current_capacity = EXCLUDED.current_capacity,
         rows_assigned = EXCLUDED.rows_assigned, last_updated = now();
  INSERT INTO @extschema@.partition_bucket (config_id, key_value, bucket_id, leaf_partition, first_ticket, capacity)
  SELECT p_config_id, u.key_value, b,
         @extschema@.existing_partition(v_config.table_schema, format('%I.%I', v_config.table_schema, u.level_one)::regclass,
                                        u.level_one, '_' || v_config.bucket_column || '_' || b),
         b::bigint * v_config.bucket_limit + 1, v_config.bucket_limit
    FROM unnest(p_keys, p_level_ones, p_rows) AS u(key_value, level_one, row_count),
         generate_series(0, greatest(ceil(u.row_count::numeric / v_config.bucket_limit)::int, 1,
                                     (SELECT count(*)::int FROM pg_catalog.pg_inherits i
                                       WHERE i.inhparent = format('%I.%I', v_config.table_schema, u.level_one)::regclass))
                             - 1) AS b
  ON CONFLICT (config_id, key_value, bucket_id) DO NOTHING;
END;
$$;
COMMENT ON FUNCTION @extschema@.register_loaded_keys(int, text[], name[], bigint[]) IS
  'Records the tracker and bucket rows of keys filled by a bulk load.';
