-- provision_key: create the level-1 partition of a key and enough buckets for
-- p_rows rows, ahead of need. With p_rows_are_loaded, the rows are already
-- (or about to be) written by a bulk load that numbered them 1..p_rows, bucket
-- (n - 1) / limit: the tracker then records them as handed out, so the next
-- routed insert continues after them. A row count that is an exact multiple of
-- the limit leaves the last bucket full, and the next row opens a new one.
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
  v_buckets int;
  v_bucket @extschema@.partition_bucket;
BEGIN
  IF p_rows IS NULL OR p_rows < 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: expected row count must be zero or more, got %s', coalesce(p_rows::text, 'NULL'));
  END IF;
  v_tracker := @extschema@.ensure_key(p_config_id, p_key_value, p_online);
  IF p_rows_are_loaded AND v_tracker.rows_assigned > 0 THEN
    RAISE EXCEPTION 'partwise: key % of %I.%I already has rows assigned', p_key_value,
                    v_config.table_schema, v_config.table_name;
  END IF;
  -- Buckets past the first follow the last existing one.
  v_buckets := greatest(ceil(p_rows::numeric / v_config.bucket_limit)::int, 1);
  SELECT * INTO v_bucket FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = p_key_value ORDER BY bucket_id DESC LIMIT 1;
  WHILE v_bucket.bucket_id < v_buckets - 1 LOOP
    v_bucket := @extschema@.ensure_bucket(p_config_id, p_key_value, v_bucket.bucket_id + 1,
                                          v_bucket.first_ticket + v_bucket.capacity, v_config.bucket_limit, p_online);
  END LOOP;
  IF p_rows_are_loaded AND p_rows > 0 THEN
    SELECT * INTO STRICT v_bucket FROM @extschema@.partition_bucket
     WHERE config_id = p_config_id AND key_value = p_key_value AND first_ticket <= p_rows
     ORDER BY first_ticket DESC LIMIT 1;
    UPDATE @extschema@.partition_tracker
       SET current_bucket_id = v_bucket.bucket_id,
           current_leaf = v_bucket.leaf_partition,
           current_first_ticket = v_bucket.first_ticket,
           current_capacity = v_bucket.capacity,
           rows_assigned = p_rows,
           last_updated = now()
     WHERE config_id = p_config_id AND key_value = p_key_value
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
