-- config_for(schema, table): the configuration of a managed table, found by the
-- name the application uses or by the name of its partitioned table. Raises a
-- clear error for a table Partwise does not manage. Reads only.
CREATE OR REPLACE FUNCTION @extschema@.config_for(p_schema name, p_table name)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_config @extschema@.partition_config;
BEGIN
  SELECT * INTO v_config
    FROM @extschema@.partition_config c
   WHERE c.table_schema = p_schema
     AND (c.table_name = p_table OR c.partitioned_table = p_table);
  IF NOT FOUND THEN
    RAISE EXCEPTION USING
      ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: table %I.%I is not managed by Partwise', p_schema, p_table),
      HINT = 'Plan and run a migration for it first, or check the schema and table name.';
  END IF;
  RETURN v_config;
END;
$$;

CREATE OR REPLACE FUNCTION @extschema@.config_by_id(p_config_id int)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_config @extschema@.partition_config;
BEGIN
  SELECT * INTO v_config FROM @extschema@.partition_config WHERE config_id = p_config_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING
      ERRCODE = 'undefined_object',
      MESSAGE = format('partwise: no managed table has configuration id %s', p_config_id);
  END IF;
  RETURN v_config;
END;
$$;
