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
