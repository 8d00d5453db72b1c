-- Helpers that move what is attached to a relation onto another one during a
-- swap: comments, grants, a sequence's position. Done here rather than by
-- the engine so that every name and value is quoted by format().

-- copy_comments: the relation's comment and its columns' comments (matched by
-- name) from p_from to p_to. Locks: those of COMMENT ON.
CREATE OR REPLACE FUNCTION @extschema@.copy_comments(p_from regclass, p_to regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_kind text := (SELECT CASE relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END
                    FROM pg_catalog.pg_class WHERE oid = p_to);
  v_comment text := pg_catalog.obj_description(p_from, 'pg_class');
  v_column record;
BEGIN
  IF v_comment IS NOT NULL THEN
    EXECUTE format('COMMENT ON %s %s IS %L', v_kind, p_to, v_comment);
  END IF;
  FOR v_column IN
    SELECT a.attname, pg_catalog.col_description(p_from, a.attnum) AS comment
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = p_from AND a.attnum > 0 AND NOT a.attisdropped
       AND pg_catalog.col_description(p_from, a.attnum) IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = p_to AND b.attname = a.attname AND NOT b.attisdropped)
  LOOP
    EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', p_to, v_column.attname, v_column.comment);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.copy_comments(regclass, regclass) IS
  'Copies a relation''s comment and its columns'' comments to another relation.';

-- copy_grants: every privilege granted on p_from (table-level and per column,
-- except the owner's own) granted the same way on p_to. When p_to is the
-- routing view of a managed table, what routing needs follows (see
-- grant_routing). Locks: those of GRANT.
CREATE OR REPLACE FUNCTION @extschema@.copy_grants(p_from regclass, p_to regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_grant record;
BEGIN
  FOR v_grant IN
    SELECT a.privilege_type, a.is_grantable, NULL::name AS column_name,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     WHERE c.oid = p_from AND a.grantee <> c.relowner
    UNION ALL
    SELECT a.privilege_type, a.is_grantable, att.attname,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
      FROM pg_catalog.pg_attribute att, pg_catalog.aclexplode(att.attacl) a
     WHERE att.attrelid = p_from AND att.attnum > 0 AND NOT att.attisdropped AND att.attacl IS NOT NULL
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = p_to AND b.attname = att.attname AND NOT b.attisdropped)
  LOOP
    EXECUTE format('GRANT %s%s ON %s TO %s%s', v_grant.privilege_type,
                   CASE WHEN v_grant.column_name IS NULL THEN '' ELSE format(' (%I)', v_grant.column_name) END,
                   p_to, v_grant.grantee,
                   CASE WHEN v_grant.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  PERFORM @extschema@.grant_routing(c.config_id) FROM @extschema@.partition_config c
   WHERE to_regclass(format('%I.%I', c.table_schema, c.table_name)) = p_to;
END;
$$;
COMMENT ON FUNCTION @extschema@.copy_grants(regclass, regclass) IS
  'Grants on one relation everything granted on another (table-level and per column).';

-- continue_sequence: move p_to to where p_from stands, so that values continue
-- (an identity column's sequence cannot be shared, only caught up). Locks:
-- none beyond reading p_from.
CREATE OR REPLACE FUNCTION @extschema@.continue_sequence(p_from regclass, p_to regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_last bigint;
  v_called boolean;
BEGIN
  EXECUTE format('SELECT last_value, is_called FROM %s', p_from) INTO v_last, v_called;
  PERFORM pg_catalog.setval(p_to, v_last, v_called);
END;
$$;
COMMENT ON FUNCTION @extschema@.continue_sequence(regclass, regclass) IS
  'Sets a sequence to the position of another one.';
