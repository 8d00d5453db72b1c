-- configure_table: record a table as managed. p_partitioned_table must already
-- exist, be LIST-partitioned by p_key_column, and have the bucket column.
-- Validates the bucket limit and the caller's privileges with clear errors.
-- Locks: none beyond the row it inserts.
CREATE OR REPLACE FUNCTION @extschema@.configure_table(
  p_schema name, p_table name, p_partitioned_table name, p_key_column name,
  p_bucket_limit bigint, p_bucket_column name DEFAULT 'bucket_id', p_leaf_options text[] DEFAULT NULL)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql
AS $$
DECLARE
  v_parted regclass := to_regclass(format('%I.%I', p_schema, p_partitioned_table));
  v_config @extschema@.partition_config;
  v_strategy "char";
  v_key_attnum int2;
BEGIN
  IF p_bucket_limit IS NULL OR p_bucket_limit <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: bucket limit must be a positive integer, got %s', coalesce(p_bucket_limit::text, 'NULL'));
  END IF;
  IF v_parted IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('partwise: table %I.%I does not exist', p_schema, p_partitioned_table);
  END IF;
  SELECT partstrat, partattrs[0] INTO v_strategy, v_key_attnum
    FROM pg_catalog.pg_partitioned_table WHERE partrelid = v_parted;
  IF v_strategy IS DISTINCT FROM 'l'
     OR v_key_attnum IS DISTINCT FROM (SELECT attnum FROM pg_catalog.pg_attribute
                                        WHERE attrelid = v_parted AND attname = p_key_column AND NOT attisdropped) THEN
    RAISE EXCEPTION USING ERRCODE = 'wrong_object_type',
      MESSAGE = format('partwise: %I.%I is not LIST-partitioned by %I', p_schema, p_partitioned_table, p_key_column);
  END IF;
  -- Raises for a key type whose values have no tested canonical text.
  PERFORM @extschema@.key_text_sql_for(v_parted, p_key_column, 'k');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                  WHERE attrelid = v_parted AND attname = p_bucket_column AND NOT attisdropped) THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_column',
      MESSAGE = format('partwise: %I.%I has no column %I', p_schema, p_partitioned_table, p_bucket_column);
  END IF;
  IF NOT has_schema_privilege(p_schema, 'CREATE') THEN
    RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege',
      MESSAGE = format('partwise: role %I lacks the CREATE privilege on schema %I, needed to create partitions',
                       current_user, p_schema);
  END IF;
  INSERT INTO @extschema@.partition_config
         (table_schema, table_name, partitioned_table, key_column, bucket_column, bucket_limit, name_stem, leaf_options)
  VALUES (p_schema, p_table, p_partitioned_table, p_key_column, p_bucket_column, p_bucket_limit,
          p_table || '_' || p_key_column, p_leaf_options)
  RETURNING * INTO v_config;
  RETURN v_config;
END;
$$;
COMMENT ON FUNCTION @extschema@.configure_table(name, name, name, name, bigint, name, text[]) IS
  'Records a LIST-partitioned table as managed by Partwise.';

-- set_bucket_limit: change the limit of a managed table. It applies to buckets
-- opened from now on; existing buckets keep the capacity they were opened with.
CREATE OR REPLACE FUNCTION @extschema@.set_bucket_limit(p_config_id int, p_bucket_limit bigint)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  IF p_bucket_limit IS NULL OR p_bucket_limit <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: bucket limit must be a positive integer, got %s', coalesce(p_bucket_limit::text, 'NULL'));
  END IF;
  UPDATE @extschema@.partition_config
     SET bucket_limit = p_bucket_limit, updated_at = now()
   WHERE config_id = p_config_id
  RETURNING * INTO v_config;
  RETURN v_config;
END;
$$;
COMMENT ON FUNCTION @extschema@.set_bucket_limit(int, bigint) IS
  'Changes the bucket limit of a managed table for buckets opened from now on.';
