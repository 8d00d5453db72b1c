-- ensure_bucket: the leaf of bucket p_bucket_id of a key, created with the given
-- ticket range unless it exists (maintenance may have created it ahead of need).
-- Does not move the key's current bucket: that is open_buckets_through's job.
-- Locks: those of create_partition (on the key's level-1 partition only).
CREATE OR REPLACE FUNCTION @extschema@.ensure_bucket(
  p_config_id int, p_key_value text, p_bucket_id int, p_first_ticket bigint, p_capacity bigint,
  p_online boolean DEFAULT true)
RETURNS @extschema@.partition_bucket
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_bucket @extschema@.partition_bucket;
  v_level_one regclass;
  v_level_one_name name;
  v_leaf name;
BEGIN
  SELECT * INTO v_bucket FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = p_key_value AND bucket_id = p_bucket_id;
  IF FOUND THEN
    RETURN v_bucket;
  END IF;
  SELECT level_one_partition INTO STRICT v_level_one FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value;
  v_level_one_name := (SELECT relname FROM pg_catalog.pg_class WHERE oid = v_level_one);
  v_leaf := @extschema@.create_partition(v_config.table_schema, v_level_one_name,
                                         v_level_one_name, '_' || v_config.bucket_column || '_' || p_bucket_id,
                                         p_bucket_id::text, NULL, p_online, v_config.leaf_options);
  INSERT INTO @extschema@.partition_bucket (config_id, key_value, bucket_id, leaf_partition, first_ticket, capacity)
  VALUES (p_config_id, p_key_value, p_bucket_id, format('%I.%I', v_config.table_schema, v_leaf)::regclass,
          p_first_ticket, p_capacity)
  ON CONFLICT (config_id, key_value, bucket_id) DO NOTHING;
  SELECT * INTO STRICT v_bucket FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = p_key_value AND bucket_id = p_bucket_id;
  RETURN v_bucket;
END;
$$;
COMMENT ON FUNCTION @extschema@.ensure_bucket(int, text, int, bigint, bigint, boolean) IS
  'Leaf of one bucket of a key, created unless it exists.';
