-- A migration with shared placement (the plan's "small keys share" option,
-- migration/copy.ts): keys under the threshold are copied into the pool of
-- small keys (17_key_pool.sql) from the start, instead of getting a level-1
-- partition each. The copy numbers the pooled keys' rows one after the other
-- as if they were one key (bucket = (n - 1) / limit), so the pool's buckets
-- fill to the limit and no further; these functions make the pool and its
-- buckets before the copy and record, after it, what share_small_keys and
-- routing would have left: a tracker row per pooled key (in_pool, no bucket
-- of its own), the pool's counter past the rows loaded. Offline DDL as the
-- rest of a migration's provisioning: the tree is not in use yet. Each step
-- is idempotent, for resumed migrations.

-- provision_pool_buckets(config, threshold, first, count): the pool (made,
-- with placement 'shared', unless it exists) and its buckets first .. first
-- + count - 1, ticket ranges as the copy numbers them, with autovacuum held
-- off until after the swap (filling_leaf_options). Called a range per
-- transaction: each leaf stays locked until commit.
-- Locks: those of create_key_pool (first call), create_partition (ACCESS
-- EXCLUSIVE on the pool while a leaf is created) and guard_level_one.
CREATE OR REPLACE FUNCTION @extschema@.provision_pool_buckets(
  p_config_id int, p_threshold bigint, p_first int, p_count int)
RETURNS regclass
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool;
  v_pool_name name;
  v_leaf name;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM @extschema@.key_pool p WHERE p.config_id = p_config_id) THEN
    PERFORM @extschema@.create_key_pool(p_config_id, p_threshold);
    -- Its first bucket, made with the pool as routing makes it, is filled by the copy as the others are.
    EXECUTE (SELECT format('ALTER TABLE %s SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
                           pb.leaf_partition)
               FROM @extschema@.pool_bucket pb WHERE pb.config_id = p_config_id AND pb.bucket_id = 0);
  END IF;
  SELECT * INTO STRICT v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id;
  SELECT c.relname INTO STRICT v_pool_name FROM pg_catalog.pg_class c WHERE c.oid = v_pool.pool_partition;
  FOR b IN greatest(p_first, 0) .. p_first + p_count - 1 LOOP
    CONTINUE WHEN EXISTS (SELECT 1 FROM @extschema@.pool_bucket pb WHERE pb.config_id = p_config_id AND pb.bucket_id = b);
    v_leaf := @extschema@.create_partition(v_config.table_schema, v_pool_name, v_pool_name,
                                           '_' || v_config.bucket_column || '_' || b, b::text, NULL, false,
                                           @extschema@.filling_leaf_options(v_config.leaf_options));
    PERFORM @extschema@.guard_level_one(p_config_id, format('%I.%I', v_config.table_schema, v_leaf)::regclass);
    INSERT INTO @extschema@.pool_bucket (config_id, bucket_id, leaf_partition, first_ticket, capacity)
    VALUES (p_config_id, b, format('%I.%I', v_config.table_schema, v_leaf)::regclass,
            b::bigint * v_config.bucket_limit + 1, v_config.bucket_limit);
  END LOOP;
  RETURN v_pool.pool_partition;
END;
$$;
COMMENT ON FUNCTION @extschema@.provision_pool_buckets(int, bigint, int, int) IS
  'Creates the pool of small keys (unless it exists) and a range of its buckets, for a migration (offline).';

-- register_pooled_keys(config, keys, rows): after the copy loaded p_rows rows
-- into the pool, numbered 1..p_rows: a tracker row per pooled key, as
-- pool_key makes it, and the pool's counter past the loaded rows (its current
-- bucket the one holding ticket p_rows), so that routed inserts continue
-- after them. An exact multiple of the limit leaves the last bucket full; the
-- next row opens a new one.
CREATE OR REPLACE FUNCTION @extschema@.register_pooled_keys(p_config_id int, p_keys text[], p_rows bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_pool @extschema@.key_pool;
  v_bucket @extschema@.pool_bucket;
BEGIN
  SELECT * INTO STRICT v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id FOR UPDATE;
  INSERT INTO @extschema@.partition_tracker AS t (config_id, key_value, level_one_partition, in_pool, rows_assigned)
  SELECT p_config_id, k, v_pool.pool_partition, true, 0 FROM unnest(p_keys) k
  ON CONFLICT (config_id, key_value) DO UPDATE
     SET level_one_partition = EXCLUDED.level_one_partition, in_pool = true, rows_assigned = 0,
         current_bucket_id = NULL, current_leaf = NULL, current_first_ticket = NULL, current_capacity = NULL,
         last_updated = now();
  IF p_rows > 0 THEN
    SELECT * INTO STRICT v_bucket FROM @extschema@.pool_bucket b
     WHERE b.config_id = p_config_id AND b.first_ticket <= p_rows
     ORDER BY b.first_ticket DESC LIMIT 1;
    PERFORM pg_catalog.setval(v_pool.ticket_sequence, p_rows, true);
  ELSE
    SELECT * INTO STRICT v_bucket FROM @extschema@.pool_bucket b WHERE b.config_id = p_config_id AND b.bucket_id = 0;
  END IF;
  UPDATE @extschema@.key_pool
     SET current_bucket_id = v_bucket.bucket_id, current_leaf = v_bucket.leaf_partition,
         current_first_ticket = v_bucket.first_ticket, current_capacity = v_bucket.capacity,
         rows_assigned = p_rows, last_updated = now()
   WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.register_pooled_keys(int, text[], bigint) IS
  'Records the tracker rows of keys a migration copied into the pool, and the pool''s counter past their rows.';
