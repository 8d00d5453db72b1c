-- Privileges of routed inserts. The routing trigger inserts with the rights of
-- the application's role (so that the table's triggers, row-level security
-- policies and anything reading current_user see that role, as before the
-- migration). The view checks the role's privileges exactly as the original
-- table did, table-level and per column. What the trigger then does needs:
--   * INSERT on the partitioned table, on every column the trigger writes
--     (all of them, defaults included, and the bucket column), whatever
--     columns the role may name through the view;
--   * SELECT on the columns it returns (the ones the role may read);
--   * EXECUTE on the table's take_bucket_<id> (not granted to PUBLIC: whoever
--     may run it can create partitions of that table);
--   * USAGE on Partwise's schema, granted to PUBLIC at install (the trigger's
--     code names it), whose functions are not executable by PUBLIC.
-- grant_routing keeps that in line with the view's grants: at the swap, and
-- whenever the trigger finds the inserting role without it (a role granted
-- INSERT on the table after the migration), through sync_grants_<id>.

DROP FUNCTION IF EXISTS @extschema@.grant_insert(name, name, name);

-- grant_routing(config): grant on the partitioned table every privilege the
-- routing view grants (INSERT widened to the columns routing writes), and
-- EXECUTE on take_bucket_<id> to every role that may insert through the view;
-- withdraw that EXECUTE from roles that no longer may. Privileges granted on
-- the partitioned table directly are left alone. Grants nothing when all is
-- in line, so that calling it often writes nothing.
-- Locks: an advisory transaction lock per table, so that concurrent callers
-- (first inserts of a newly granted role in several sessions) do not update
-- the same catalog rows at once ("tuple concurrently updated"): the second
-- waits for the first to commit, then finds nothing left to grant. A caller
-- in a REPEATABLE READ or SERIALIZABLE transaction that still collides gets a
-- serialization failure, to retry.
CREATE OR REPLACE FUNCTION @extschema@.grant_routing(p_config_id int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_view regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name));
  v_parted regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table));
  v_take regprocedure := to_regprocedure(format('@extschema@.%I(text)', 'take_bucket_' || p_config_id));
  v_grant record;
BEGIN
  IF v_view IS NULL OR v_parted IS NULL OR v_take IS NULL
     OR (SELECT relkind FROM pg_catalog.pg_class WHERE oid = v_view) <> 'v' THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('partwise.grant_routing'), p_config_id);
  BEGIN
    FOR v_grant IN
      WITH view_acl AS (
        SELECT a.grantee, a.privilege_type, NULL::name AS column_name
          FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
         WHERE c.oid = v_view AND a.grantee <> c.relowner
        UNION
        SELECT a.grantee, a.privilege_type, att.attname
          FROM pg_catalog.pg_class c, pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
         WHERE c.oid = v_view AND att.attrelid = c.oid AND att.attnum > 0 AND NOT att.attisdropped
           AND a.grantee <> c.relowner
      ),
      parted_acl AS (
        SELECT a.grantee, a.privilege_type, NULL::name AS column_name
          FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
         WHERE c.oid = v_parted
        UNION
        SELECT a.grantee, a.privilege_type, att.attname
          FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
         WHERE att.attrelid = v_parted AND att.attnum > 0 AND NOT att.attisdropped
      ),
      routed_columns AS (
        SELECT attname FROM pg_catalog.pg_attribute
         WHERE attrelid = v_parted AND attnum > 0 AND NOT attisdropped AND attgenerated = ''
      ),
      wanted AS (
        SELECT grantee, privilege_type, column_name FROM view_acl WHERE privilege_type <> 'INSERT'
        UNION
        SELECT grantee, 'INSERT', NULL FROM view_acl WHERE privilege_type = 'INSERT' AND column_name IS NULL
        UNION
        SELECT i.grantee, 'INSERT', r.attname
          FROM (SELECT DISTINCT grantee FROM view_acl WHERE privilege_type = 'INSERT' AND column_name IS NOT NULL) i,
               routed_columns r
      )
      SELECT w.grantee, w.privilege_type, w.column_name FROM wanted w
       WHERE NOT EXISTS (SELECT 1 FROM parted_acl p
                          WHERE p.grantee = w.grantee AND p.privilege_type = w.privilege_type
                            AND (p.column_name IS NULL OR p.column_name = w.column_name))
      ORDER BY 1, 2, 3
    LOOP
      EXECUTE format('GRANT %s%s ON %s TO %s', v_grant.privilege_type,
                     CASE WHEN v_grant.column_name IS NULL THEN '' ELSE format(' (%I)', v_grant.column_name) END,
                     v_parted, @extschema@.grantee_sql(v_grant.grantee));
    END LOOP;

    FOR v_grant IN
      WITH inserters AS (
        SELECT a.grantee FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
         WHERE c.oid = v_view AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
        UNION
        SELECT a.grantee FROM pg_catalog.pg_class c, pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
         WHERE c.oid = v_view AND att.attrelid = c.oid AND a.privilege_type = 'INSERT' AND a.grantee <> c.relowner
      ),
      executors AS (
        SELECT a.grantee FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
         WHERE p.oid = v_take AND a.privilege_type = 'EXECUTE' AND a.grantee <> p.proowner
      )
      (SELECT grantee, true AS grant FROM inserters EXCEPT SELECT grantee, true FROM executors)
      UNION ALL
      (SELECT grantee, false FROM executors EXCEPT SELECT grantee, false FROM inserters)
    LOOP
      EXECUTE format(CASE WHEN v_grant.grant THEN 'GRANT EXECUTE ON FUNCTION %s TO %s'
                          ELSE 'REVOKE EXECUTE ON FUNCTION %s FROM %s' END,
                     v_take, @extschema@.grantee_sql(v_grant.grantee));
    END LOOP;
  EXCEPTION WHEN internal_error THEN
    -- "tuple concurrently updated": another transaction granted on the same
    -- object after this one's snapshot was taken (REPEATABLE READ).
    IF SQLERRM <> 'tuple concurrently updated' THEN
      RAISE;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'serialization_failure',
      MESSAGE = format('partwise: could not grant routing privileges on %s: %s', v_parted, SQLERRM),
      HINT = 'Another session was granting the same privileges; retry the transaction.';
  END;
END;
$$;
COMMENT ON FUNCTION @extschema@.grant_routing(int) IS
  'Grants on a managed table''s partitioned table and bucket function what its routing view''s grants imply.';

-- grantee_sql(role oid): a grantee as GRANT names it (PUBLIC for 0).
CREATE OR REPLACE FUNCTION @extschema@.grantee_sql(p_grantee oid)
RETURNS text
LANGUAGE sql STABLE STRICT
AS $$
  SELECT CASE WHEN p_grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(p_grantee)) END
$$;

-- sync_grants(schema, table): grant_routing for a managed table by name. Run
-- it after REVOKE on the table (inserts through it are refused at once, as
-- before; this also withdraws the right to take its buckets), and, on a
-- table with row-level security (whose view checks the querying role's
-- rights on the partitioned table), after any GRANT on it.
CREATE OR REPLACE FUNCTION @extschema@.sync_grants(p_schema name, p_table name)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  PERFORM @extschema@.grant_routing((@extschema@.config_for(p_schema, p_table)).config_id);
END;
$$;
COMMENT ON FUNCTION @extschema@.sync_grants(name, name) IS
  'Brings the privileges routing needs in line with the grants on a managed table''s view.';
