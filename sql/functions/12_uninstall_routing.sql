-- uninstall(config): stop managing one table and leave its data where it is.
-- The routing view, its trigger function, the key guard and the ticket
-- sequences are dropped, the metadata rows deleted, and the partitioned table
-- takes the application's name again (without routing, inserts must then name
-- an existing partition's key and bucket). Nothing is dropped with CASCADE: a
-- view that depends on the routing view makes this fail with PostgreSQL's
-- error naming it.
-- Locks: ACCESS EXCLUSIVE on the view (dropped) and the partitioned table (renamed).
CREATE OR REPLACE FUNCTION @extschema@.uninstall(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_view regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name));
  v_parted regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table));
BEGIN
  IF v_view IS NOT NULL AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = v_view) = 'v' THEN
    IF v_parted IS NOT NULL THEN
      PERFORM @extschema@.move_owned_sequences(v_view, v_parted);
    END IF;
    EXECUTE format('DROP VIEW %s', v_view);
  END IF;
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'route_insert_' || p_config_id);
  IF v_parted IS NOT NULL THEN
    EXECUTE format('DROP TRIGGER IF EXISTS partwise_key_guard ON %s', v_parted);
    IF to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name)) IS NULL THEN
      EXECUTE format('ALTER TABLE %s RENAME TO %I', v_parted, v_config.table_name);
    END IF;
  END IF;
  PERFORM @extschema@.forget_table(p_config_id);
END;
$$;
COMMENT ON FUNCTION @extschema@.uninstall(int) IS
  'Stops managing a table: drops routing and metadata, keeps every row.';

-- forget_table(config): drop a table's ticket sequences and metadata rows,
-- leaving its relations alone (uninstall and a migration's rollback decide
-- what happens to those).
CREATE OR REPLACE FUNCTION @extschema@.forget_table(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_sequence regclass;
BEGIN
  PERFORM @extschema@.drop_unique_registries(p_config_id);
  FOR v_sequence IN
    SELECT ticket_sequence FROM @extschema@.partition_tracker
     WHERE config_id = p_config_id AND ticket_sequence IS NOT NULL
  LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_sequence);
  END LOOP;
  FOR v_sequence IN SELECT ticket_sequence FROM @extschema@.key_pool WHERE config_id = p_config_id LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_sequence);
  END LOOP;
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'route_insert_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(text)', 'take_bucket_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'sync_grants_' || p_config_id);
  DELETE FROM @extschema@.partition_config WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.forget_table(int) IS
  'Drops the ticket sequences and metadata of a managed table, not its relations.';
