-- Names of the partitions of one configured table. Only these two functions
-- make partition names; everything else reads them from partition_tracker and
-- partition_bucket. hash_length grows only if a name is already taken by an
-- unrelated table (see ensure_key).
CREATE OR REPLACE FUNCTION @extschema@.level_one_name(p_name_stem text, p_key_value text, p_hash_length int DEFAULT 12)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT @extschema@.derived_name(p_name_stem || '_' || @extschema@.key_tag(p_key_value, p_hash_length), '')
$$;
COMMENT ON FUNCTION @extschema@.level_one_name(text, text, int) IS
  'Name of the level-1 partition of a key value.';

CREATE OR REPLACE FUNCTION @extschema@.leaf_name(p_level_one name, p_bucket_column name, p_bucket_id int)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT @extschema@.derived_name(p_level_one, '_' || p_bucket_column || '_' || p_bucket_id)
$$;
COMMENT ON FUNCTION @extschema@.leaf_name(name, name, int) IS
  'Name of the leaf partition that holds one bucket of a key.';

-- available_level_one_name: the level-1 partition name of a key in a managed
-- table: level_one_name's, unless an unrelated table already took it (then a
-- longer hash makes another one). A partition of this table under that name
-- is the key's own (left by an interrupted run): its name is returned.
CREATE OR REPLACE FUNCTION @extschema@.available_level_one_name(p_config @extschema@.partition_config, p_key_value text)
RETURNS name
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_parent regclass := format('%I.%I', p_config.table_schema, p_config.partitioned_table)::regclass;
  v_name name;
  v_existing regclass;
  v_hash_length int;
BEGIN
  FOREACH v_hash_length IN ARRAY ARRAY[12, 16, 32] LOOP
    v_name := @extschema@.level_one_name(p_config.name_stem, p_key_value, v_hash_length);
    v_existing := to_regclass(format('%I.%I', p_config.table_schema, v_name));
    IF v_existing IS NULL
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = v_existing AND inhparent = v_parent) THEN
      RETURN v_name;
    END IF;
  END LOOP;
  RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
    MESSAGE = format('partwise: no free partition name for key %s of %I.%I', p_key_value, p_config.table_schema, p_config.table_name);
END;
$$;
COMMENT ON FUNCTION @extschema@.available_level_one_name(@extschema@.partition_config, text) IS
  'Name for a key''s level-1 partition that no unrelated table has taken.';
