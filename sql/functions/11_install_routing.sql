-- install_routing(config): make the application's table name route inserts.
--
-- PostgreSQL cannot route with a BEFORE INSERT trigger on the partitioned table
-- (it fires after a leaf was chosen, and may not move the row or create
-- partitions of a table in use). So the application's name becomes a view over
-- the partitioned table, with an INSTEAD OF INSERT trigger that takes a bucket
-- for the row (assign_bucket, which creates partitions when needed) and inserts
-- it with the bucket column set. UPDATE and DELETE go through the view as an
-- auto-updatable view; an UPDATE that changes the key is refused (see
-- reject_key_change). Re-run it after altering the partitioned table's columns:
-- it regenerates the view and the trigger function from the current columns.
--
-- Locks: ACCESS EXCLUSIVE on the view while it is replaced (brief), SHARE ROW
-- EXCLUSIVE on the partitioned table while its key guard trigger is created.
CREATE OR REPLACE FUNCTION @extschema@.install_routing(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parted regclass;
  v_parted_sql text;
  v_view_sql text;
  v_existing regclass;
  v_view_columns text;
  v_insert_columns text;
  v_insert_values text;
  v_generated_columns text;
  v_generated_values text;
  v_identity_test text;
  v_insert text;
  v_returning text;
  v_function text := 'route_insert_' || p_config_id;
  v_options text := '';
  v_column record;
BEGIN
  v_parted := to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table));
  IF v_parted IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('partwise: partitioned table %I.%I is missing', v_config.table_schema, v_config.partitioned_table);
  END IF;
  v_parted_sql := format('%I.%I', v_config.table_schema, v_config.partitioned_table);
  v_view_sql := format('%I.%I', v_config.table_schema, v_config.table_name);

  v_existing := to_regclass(v_view_sql);
  IF v_existing IS NOT NULL AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = v_existing) <> 'v' THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
      MESSAGE = format('partwise: %s is a table, not the routing view; routing needs that name', v_view_sql);
  END IF;

  -- Identity columns are left out of the insert when the row brings no value
  -- for them, so that the table draws them as it always did (no grant on the
  -- sequence needed, GENERATED ALWAYS still refusing explicit values).
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> v_config.bucket_column),
         string_agg(quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE attgenerated = ''),
         string_agg(CASE WHEN attname = v_config.bucket_column THEN 'v_bucket_id'
                         ELSE 'NEW.' || quote_ident(attname) END, ', ' ORDER BY attnum) FILTER (WHERE attgenerated = ''),
         string_agg(quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE attgenerated = '' AND attidentity = ''),
         string_agg(CASE WHEN attname = v_config.bucket_column THEN 'v_bucket_id'
                         ELSE 'NEW.' || quote_ident(attname) END, ', ' ORDER BY attnum) FILTER (WHERE attgenerated = '' AND attidentity = ''),
         string_agg(format('NEW.%I IS NULL', attname), ' AND ' ORDER BY attnum) FILTER (WHERE attidentity <> ''),
         string_agg('p.' || quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> v_config.bucket_column)
    INTO v_view_columns, v_insert_columns, v_insert_values, v_generated_columns, v_generated_values, v_identity_test, v_returning
    FROM pg_catalog.pg_attribute
   WHERE attrelid = v_parted AND attnum > 0 AND NOT attisdropped;
  v_insert := format('INSERT INTO %s AS p (%s) VALUES (%s) RETURNING %s INTO NEW;',
                     v_parted_sql, v_insert_columns, v_insert_values, v_returning);
  IF v_identity_test IS NOT NULL THEN
    v_insert := format(E'IF %s THEN\n    INSERT INTO %s AS p (%s) VALUES (%s) RETURNING %s INTO NEW;\n  ELSE\n    %s\n  END IF;',
                       v_identity_test, v_parted_sql, v_generated_columns, v_generated_values, v_returning, v_insert);
  END IF;

  -- With row-level security on the table, the view must check the querying
  -- user's policies, not its owner's (PostgreSQL 15 and later).
  IF (SELECT relrowsecurity FROM pg_catalog.pg_class WHERE oid = v_parted) THEN
    IF current_setting('server_version_num')::int < 150000 THEN
      RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
        MESSAGE = format('partwise: %s uses row-level security, which a routing view enforces only on PostgreSQL 15 and later', v_parted_sql);
    END IF;
    v_options := ' WITH (security_invoker = true)';
  END IF;

  BEGIN
    EXECUTE format('CREATE OR REPLACE VIEW %s%s AS SELECT %s FROM %s', v_view_sql, v_options, v_view_columns, v_parted_sql);
  EXCEPTION WHEN invalid_table_definition OR datatype_mismatch OR feature_not_supported THEN
    -- Columns were dropped, renamed or retyped: the view must be rebuilt. Its
    -- INSTEAD OF trigger goes with it and is recreated below.
    EXECUTE format('DROP VIEW %s', v_view_sql);
    EXECUTE format('CREATE VIEW %s%s AS SELECT %s FROM %s', v_view_sql, v_options, v_view_columns, v_parted_sql);
  END;

  -- The view supplies the table's defaults, so that a routed row carries
  -- them (serial values included) and INSERT ... RETURNING shows them;
  -- identity columns are left to the table (see above).
  FOR v_column IN
    SELECT a.attname, a.attidentity, pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS default_expr
      FROM pg_catalog.pg_attribute a
      LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = v_parted AND a.attnum > 0 AND NOT a.attisdropped
       AND a.attname <> v_config.bucket_column AND a.attgenerated = ''
  LOOP
    IF v_column.default_expr IS NOT NULL AND v_column.attidentity = '' THEN
      EXECUTE format('ALTER VIEW %s ALTER COLUMN %I SET DEFAULT %s', v_view_sql, v_column.attname, v_column.default_expr);
    ELSE
      EXECUTE format('ALTER VIEW %s ALTER COLUMN %I DROP DEFAULT', v_view_sql, v_column.attname);
    END IF;
  END LOOP;

  -- The privileged step of a routed insert, for this table only: taking a
  -- bucket reads Partwise's metadata and may create partitions, which the
  -- inserting role may not do itself. Only the roles allowed to insert into
  -- the table may execute it (grant_routing); a fixed search_path keeps the
  -- caller's from steering it.
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I(p_key_value text, OUT bucket_id int, OUT leaf regclass)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, 'take_bucket_' || p_config_id,
    format('SELECT a.bucket_id, a.leaf FROM @extschema@.assign_bucket(%s, p_key_value) a', p_config_id));
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I(text) FROM PUBLIC', 'take_bucket_' || p_config_id);

  -- One trigger function per table, with its columns spelled out, so that
  -- PL/pgSQL plans the insert once per session. It runs with the rights and
  -- search_path of the application's role, as a direct insert would: the
  -- table's own triggers, row-level security policies and privilege checks
  -- apply to the inserted row exactly as before the migration. Only taking a
  -- bucket (take_bucket_<id>, which may create partitions) runs with the
  -- rights of Partwise's owner. Everything here is schema-qualified because
  -- the caller's search_path is in effect.
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql
AS %2$L
$body$, v_function, format($code$
#variable_conflict use_column
DECLARE
  v_key text := NEW.%1$I::text;
  v_bucket_id int;
  v_leaf regclass;
BEGIN
  IF v_key IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
      MESSAGE = %2$L, SCHEMA = %3$L, TABLE = %4$L, COLUMN = %5$L,
      HINT = 'Give the row a key value; Partwise places every row in the partition of its key.';
  END IF;
  SELECT a.bucket_id, a.leaf INTO v_bucket_id, v_leaf FROM @extschema@.%6$I(v_key) a;
  -- Lock the destination leaf before routing through the parent. Another
  -- session may have attached it (or its level-1 partition) after this
  -- transaction locked the parent, and a backend refreshes its cached partition
  -- lists only when it takes a lock it did not hold: without this, the insert
  -- fails with "no partition of relation ... found for row". This call is the
  -- cheapest built-in that opens a relation by OID under ACCESS SHARE.
  PERFORM pg_catalog.pg_relation_is_updatable(v_leaf, false);
  %7$s
  RETURN NEW;
END
$code$,
    v_config.key_column,
    format('partwise: %I of %I.%I is NULL; a row without a key cannot be placed in a partition',
           v_config.key_column, v_config.table_schema, v_config.table_name),
    v_config.table_schema, v_config.table_name, v_config.key_column,
    'take_bucket_' || p_config_id, v_insert));

  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = v_view_sql::regclass AND tgname = 'partwise_route') THEN
    EXECUTE format('DROP TRIGGER partwise_route ON %s', v_view_sql);
  END IF;
  EXECUTE format('CREATE TRIGGER partwise_route INSTEAD OF INSERT ON %s FOR EACH ROW EXECUTE FUNCTION @extschema@.%I()',
                 v_view_sql, v_function);

  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = v_parted AND tgname = 'partwise_key_guard') THEN
    EXECUTE format('DROP TRIGGER partwise_key_guard ON %s', v_parted_sql);
  END IF;
  EXECUTE format('CREATE TRIGGER partwise_key_guard BEFORE UPDATE OF %1$I ON %2$s FOR EACH ROW'
                 ' WHEN (OLD.%1$I IS DISTINCT FROM NEW.%1$I)'
                 ' EXECUTE FUNCTION @extschema@.reject_key_change(%3$L, %4$L)',
                 v_config.key_column, v_parted_sql, v_config.key_column, v_view_sql);

  PERFORM @extschema@.grant_routing(p_config_id);
  UPDATE @extschema@.partition_config SET mode = 'routing', updated_at = now() WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.install_routing(int) IS
  'Creates or refreshes the routing view, its INSTEAD OF INSERT trigger and the key-change guard of a managed table.';

-- reject_key_change: the defined behaviour of an UPDATE that changes a row's
-- key. Such a row would have to move to another key's partition and take a
-- ticket there, which PostgreSQL cannot do from inside the UPDATE (it may not
-- create partitions of a table the statement is writing). The UPDATE is
-- refused with a clear error; delete the row and insert it again instead.
CREATE OR REPLACE FUNCTION @extschema@.reject_key_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION USING
    ERRCODE = 'feature_not_supported',
    MESSAGE = format('partwise: changing %I of a row of %s is not supported', TG_ARGV[0], TG_ARGV[1]),
    DETAIL = 'Rows are partitioned by this column; changing it would move the row to another key''s partitions.',
    HINT = 'Delete the row and insert it again with the new value.';
END;
$$;
COMMENT ON FUNCTION @extschema@.reject_key_change() IS
  'Trigger refusing UPDATEs that change the partition key of a managed table.';
