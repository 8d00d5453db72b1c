-- Privileges of routed inserts. The routing trigger inserts with the rights of
-- the application's role, so that role needs INSERT on the view and on the
-- partitioned table, and EXECUTE on the table's take_bucket_<id> (which is not
-- granted to PUBLIC: whoever may run it can create partitions of that table).

-- grant_routing(config): let every role that may insert into the partitioned
-- table take buckets. Run by install_routing; run it again after granting
-- INSERT to a new role directly, or use grant_insert.
CREATE OR REPLACE FUNCTION @extschema@.grant_routing(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_grantee text;
BEGIN
  FOR v_grantee IN
    SELECT DISTINCT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     WHERE c.oid = format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass
       AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %s', v_grantee);
    EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.%I(text) TO %s', 'take_bucket_' || p_config_id, v_grantee);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.grant_routing(int) IS
  'Lets every role that may insert into a managed table take buckets of that table.';

-- grant_insert(schema, table, role): everything a role needs to insert into a
-- managed table through its usual name.
CREATE OR REPLACE FUNCTION @extschema@.grant_insert(p_schema name, p_table name, p_role name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_for(p_schema, p_table);
BEGIN
  EXECUTE format('GRANT INSERT ON %I.%I, %I.%I TO %I', v_config.table_schema, v_config.table_name,
                 v_config.table_schema, v_config.partitioned_table, p_role);
  EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.%I(text) TO %I', 'take_bucket_' || v_config.config_id, p_role);
  EXECUTE format('GRANT USAGE ON SCHEMA @extschema@ TO %I', p_role);
END;
$$;
COMMENT ON FUNCTION @extschema@.grant_insert(name, name, name) IS
  'Grants a role what it needs to insert into a managed table.';
