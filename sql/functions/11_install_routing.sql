-- install_routing(config): make the application's table name route inserts.
--
-- PostgreSQL cannot route with a BEFORE INSERT trigger on the partitioned table
-- (it fires after a leaf was chosen, and may not move the row or create
-- partitions of a table in use). So the application's name becomes a view over
-- the partitioned table, with an INSTEAD OF INSERT trigger that takes a bucket
-- for the row (assign_bucket, which creates partitions when needed) and inserts
-- it with the bucket column set. UPDATE and DELETE go through the view as an
-- auto-updatable view; an UPDATE that changes the key is refused (see
-- reject_key_change); INSERT ... ON CONFLICT is refused at once (see below).
-- Re-run it after altering the partitioned table's columns, constraints or
-- triggers: it regenerates the view and the trigger function from them.
--
-- Locks: ACCESS EXCLUSIVE on the view while it is replaced (brief); those of
-- install_key_guard for level-1 partitions missing the key guard (a
-- migration guards each one as it creates it, so the swap takes none of them).
-- It runs with search_path = pg_catalog so that every name it prints into the
-- generated code (types, functions and operators of CHECK constraints,
-- defaults) comes out schema-qualified: that code runs under the inserting
-- session's search_path.
CREATE OR REPLACE FUNCTION @extschema@.install_routing(p_config_id int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
  v_dynamic_values text;
  v_generated_dynamic_values text;
  v_identity_test text;
  v_insert text;
  v_returning text;
  v_key_text text;
  v_function text := 'route_insert_' || p_config_id;
  v_take text := 'take_bucket_' || p_config_id;
  v_sync text := 'sync_grants_' || p_config_id;
  v_options text := '';
  v_old_view text;
  v_column record;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'routing');
  v_parted := to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table));
  IF v_parted IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'undefined_table',
      MESSAGE = format('partwise: partitioned table %I.%I is missing', v_config.table_schema, v_config.partitioned_table);
  END IF;
  v_parted_sql := format('%I.%I', v_config.table_schema, v_config.partitioned_table);
  v_view_sql := format('%I.%I', v_config.table_schema, v_config.table_name);
  v_key_text := @extschema@.key_text_sql_for(v_parted, v_config.key_column, format('NEW.%I', v_config.key_column));

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
         string_agg('p.' || quote_ident(attname), ', ' ORDER BY attnum) FILTER (WHERE attname <> v_config.bucket_column),
         -- The same values for the EXECUTEd form: the row is $1, the bucket $2.
         string_agg(CASE WHEN attname = v_config.bucket_column THEN '$2'
                         ELSE '($1).' || quote_ident(attname) END, ', ' ORDER BY attnum) FILTER (WHERE attgenerated = ''),
         string_agg(CASE WHEN attname = v_config.bucket_column THEN '$2'
                         ELSE '($1).' || quote_ident(attname) END, ', ' ORDER BY attnum) FILTER (WHERE attgenerated = '' AND attidentity = '')
    INTO v_view_columns, v_insert_columns, v_insert_values, v_generated_columns, v_generated_values, v_identity_test, v_returning,
         v_dynamic_values, v_generated_dynamic_values
    FROM pg_catalog.pg_attribute
   WHERE attrelid = v_parted AND attnum > 0 AND NOT attisdropped;
  v_insert := @extschema@.routing_insert_sql(v_parted_sql, v_insert_columns, v_insert_values, v_dynamic_values, v_returning);
  IF v_identity_test IS NOT NULL THEN
    v_insert := format(E'IF %s THEN\n    %s\n  ELSE\n    %s\n  END IF;', v_identity_test,
                       @extschema@.routing_insert_sql(v_parted_sql, v_generated_columns, v_generated_values,
                                                      v_generated_dynamic_values, v_returning),
                       v_insert);
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
    -- INSTEAD OF trigger and rule go with it and are recreated below; its
    -- grants, comments and the serial sequences it owns are put back.
    v_old_view := format('%I.%I', v_config.table_schema, @extschema@.derived_name(v_config.table_name, '_old'));
    EXECUTE format('ALTER VIEW %s RENAME TO %I', v_view_sql, @extschema@.derived_name(v_config.table_name, '_old'));
    EXECUTE format('CREATE VIEW %s%s AS SELECT %s FROM %s', v_view_sql, v_options, v_view_columns, v_parted_sql);
    PERFORM @extschema@.copy_grants(v_old_view::regclass, v_view_sql::regclass);
    PERFORM @extschema@.copy_comments(v_old_view::regclass, v_view_sql::regclass);
    PERFORM @extschema@.move_owned_sequences(v_old_view::regclass, v_view_sql::regclass);
    EXECUTE format('DROP VIEW %s', v_old_view);
  END;
  -- The view takes the table's place, owner included (the partitioned table's
  -- is the original's), when a member of the owning role made it: the serial
  -- sequences it takes over must have the owner it has.
  PERFORM @extschema@.take_owner_of(v_parted, v_config.table_schema, v_config.table_name);

  -- INSERT ... ON CONFLICT cannot work through the view: the INSTEAD OF
  -- trigger is not told about the clause, so DO NOTHING would raise the
  -- duplicate instead of skipping it, and DO UPDATE finds no unique index on a
  -- view. A rule on the view, conditional and doing nothing, makes PostgreSQL
  -- refuse every INSERT ... ON CONFLICT on it at once ("INSERT with ON
  -- CONFLICT clause cannot be used with table that has INSERT or UPDATE
  -- rules"), the same on every version, rather than fail only when a
  -- duplicate arrives. UPDATE (with RETURNING), DELETE and COPY are not
  -- affected; MERGE into the view is refused too (PostgreSQL 17 and later
  -- refuse MERGE on a relation with rules; 15 and 16 on any view).
  EXECUTE format('CREATE OR REPLACE RULE partwise_no_upsert AS ON UPDATE TO %s WHERE false DO ALSO NOTHING', v_view_sql);

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
$body$, v_take,
    format('SELECT a.bucket_id, a.leaf FROM @extschema@.assign_bucket(%s, p_key_value) a', p_config_id));
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I(text) FROM PUBLIC', v_take);

  -- What a role that may insert into the view needs for routing, granted by
  -- the table's owner when the trigger finds a role without it (see
  -- grant_routing). No arguments: a caller cannot point it anywhere else, and
  -- all it can do is bring the partitioned table's grants in line with the
  -- view's, so any role may run it.
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, v_sync, format('SELECT @extschema@.grant_routing(%s)', p_config_id));
  EXECUTE format('GRANT EXECUTE ON FUNCTION @extschema@.%I() TO PUBLIC', v_sync);

  -- One trigger function per table, with its columns spelled out, so that
  -- PL/pgSQL plans the insert once per session. It runs with the rights and
  -- search_path of the application's role, as a direct insert would: the
  -- table's own triggers, row-level security policies and privilege checks
  -- apply to the inserted row exactly as before the migration. Only taking a
  -- bucket (take_bucket_<id>, which may create partitions) and bringing the
  -- grants in line (sync_grants_<id>) run with the rights of Partwise's
  -- owner. Everything here is schema-qualified because the caller's
  -- search_path is in effect.
  --
  -- RETURNING INTO NEW hands back what the table computed (identity values,
  -- stored generated columns, its BEFORE triggers' changes) to INSERT ...
  -- RETURNING on the view. It needs SELECT on the returned columns, which
  -- PostgreSQL also demands of RETURNING on the view itself: so the trigger
  -- returns every column to a role that may read the whole view, the columns
  -- it may read (a statement built for them) to a role with column grants,
  -- and nothing to a role that may not read at all (it cannot use RETURNING).
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql
AS %2$L
$body$, v_function, format($code$
#variable_conflict use_column
DECLARE
  v_key text := %1$s;
  v_bucket_id int;
  v_leaf regclass;
  v_returning int;
  v_readable text;
  v_unsynced boolean;
BEGIN
  IF v_key IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
      MESSAGE = %2$L, SCHEMA = %3$L, TABLE = %4$L, COLUMN = %5$L,
      HINT = 'Give the row a key value; Partwise places every row in the partition of its key.';
  END IF;
%6$s
  IF pg_catalog.has_table_privilege(%7$L::pg_catalog.regclass, 'SELECT') THEN
    v_returning := 1;
  ELSIF pg_catalog.has_any_column_privilege(%7$L::pg_catalog.regclass, 'SELECT') THEN
    v_returning := 2;
    SELECT pg_catalog.string_agg(CASE WHEN pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
                                      THEN 'p.' ELSE '($1).' END || pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum),
           pg_catalog.bool_or(pg_catalog.has_column_privilege(a.attrelid, a.attnum, 'SELECT')
                              AND NOT pg_catalog.has_column_privilege(%8$L::pg_catalog.regclass, a.attname, 'SELECT'))
      INTO v_readable, v_unsynced
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = %7$L::pg_catalog.regclass AND a.attnum > 0 AND NOT a.attisdropped;
  ELSE
    v_returning := 0;
  END IF;
  -- A role granted INSERT (or SELECT) on the table after the migration: give
  -- it what routing needs, once.
  IF NOT pg_catalog.has_function_privilege(%9$L::pg_catalog.regprocedure, 'EXECUTE')
     OR (v_returning = 1 AND NOT pg_catalog.has_table_privilege(%8$L::pg_catalog.regclass, 'SELECT'))
     OR v_unsynced THEN
    PERFORM @extschema@.%10$I();
  END IF;
  SELECT a.bucket_id, a.leaf INTO v_bucket_id, v_leaf FROM @extschema@.%11$I(v_key) a;
  -- Lock the destination leaf before routing through the parent. Another
  -- session may have attached it (or its level-1 partition) after this
  -- transaction locked the parent, and a backend refreshes its cached partition
  -- lists only when it takes a lock it did not hold: without this, the insert
  -- fails with "no partition of relation ... found for row". This call is the
  -- cheapest built-in that opens a relation by OID under ACCESS SHARE.
  PERFORM pg_catalog.pg_relation_is_updatable(v_leaf, false);
  %12$s
  RETURN NEW;
END
$code$,
    v_key_text,
    format('partwise: %I of %I.%I is NULL; a row without a key cannot be placed in a partition',
           v_config.key_column, v_config.table_schema, v_config.table_name),
    v_config.table_schema, v_config.table_name, v_config.key_column,
    @extschema@.routing_checks_sql(p_config_id),
    v_view_sql, v_parted_sql,
    format('@extschema@.%I(text)', v_take), v_sync, v_take, v_insert));
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I() FROM PUBLIC', v_function);

  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = v_view_sql::regclass AND tgname = 'partwise_route') THEN
    EXECUTE format('DROP TRIGGER partwise_route ON %s', v_view_sql);
  END IF;
  EXECUTE format('CREATE TRIGGER partwise_route INSTEAD OF INSERT ON %s FOR EACH ROW EXECUTE FUNCTION @extschema@.%I()',
                 v_view_sql, v_function);

  PERFORM @extschema@.install_key_guard(p_config_id);
  PERFORM @extschema@.grant_routing(p_config_id);
  UPDATE @extschema@.partition_config SET mode = 'routing', updated_at = now() WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.install_routing(int) IS
  'Creates or refreshes the routing view, its INSTEAD OF INSERT trigger and the key-change guard of a managed table.';

-- The key guard: a row trigger that refuses an UPDATE changing a row's key
-- (reject_key_change). It fires only for an UPDATE that names the key
-- column, which the copy and the catch-up never do.
--
-- It sits on each level-1 partition of a key and on each leaf of the pool,
-- not on the partitioned table (nor on the pool). A row trigger on a
-- partitioned table is cloned onto every partition below it, and PostgreSQL
-- lets a clone go only with the trigger it was cloned from ("cannot drop
-- trigger ... because trigger ... on table ... requires it") or with its
-- partition's detach: dropping the table's trigger locks
-- every partition of the tree, and each clone, in one transaction, which on a
-- tree larger than the lock table fails with "out of shared memory" (22,001
-- partitions take 44,002 locks). A guard per level-1 partition is cloned onto
-- that key's leaves only, so uninstall drops them a group of keys per
-- transaction, and creating one locks only the new partition. The pool is
-- a partitioned table too, whose leaves are its buckets: a guard on it would
-- be cloned onto every pool leaf, and dropping it would lock the pool's
-- thousands of leaves and their clones in one transaction (2,408 entries of
-- the lock table for 1,200 buckets; out of shared memory once they outgrow
-- what the lock table has free), so each pool leaf carries a guard of its own
-- (guard_level_one), made with the leaf, that uninstall drops in its batches
-- like a key's. Tables migrated before this kept the guard on the
-- partitioned table, or on the pool: their new partitions get its clone, and
-- guard_level_one leaves them alone.

-- trigger_reaches(config, relation, name): a trigger named p_name fires on
-- the relation: its own or a clone of one above it (a clone has the same
-- name), or one on the table's partitioned table, whose clones reach every
-- partition (where an earlier version put the key guard and the registries'
-- row trigger). Whether guard_level_one and unique_row_trigger have their
-- trigger to place. No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.trigger_reaches(p_config @extschema@.partition_config, p_relation regclass, p_name name)
RETURNS boolean
LANGUAGE sql
STABLE
AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                  WHERE tgrelid IN (p_relation, to_regclass(format('%I.%I', p_config.table_schema, p_config.partitioned_table)))
                    AND tgname = p_name)
$$;
COMMENT ON FUNCTION @extschema@.trigger_reaches(@extschema@.partition_config, regclass, name) IS
  'Whether a trigger of that name fires on a partition of a managed table: its own, a clone, or the partitioned table''s.';

-- guard_level_one(config, relation): the key guard on one level-1
-- partition of a key, or on one pool leaf (never the pool), made as it is
-- created (ensure_key, create_level_one_partitions, key isolate;
-- create_key_pool, ensure_pool_bucket, provision_pool_buckets); a key's
-- leaves get clones as they are created. Nothing when it has one (its own,
-- or the clone of a guard on the partitioned table or on the pool, which
-- tables installed by an earlier version keep; a clone has the same name),
-- or when the partitioned table has the guard (their clones reach every
-- partition). With it, the unique registries' row trigger, when the table
-- has one (unique_row_trigger).
-- Locks: SHARE ROW EXCLUSIVE on the relation and the leaves it has (none,
-- when it was just created), only when the guard or the row trigger is missing.
CREATE OR REPLACE FUNCTION @extschema@.guard_level_one(p_config_id int, p_level_one regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  IF NOT @extschema@.trigger_reaches(v_config, p_level_one, 'partwise_key_guard') THEN
    EXECUTE format('CREATE TRIGGER partwise_key_guard BEFORE UPDATE OF %1$I ON %2$s FOR EACH ROW'
                   ' WHEN (OLD.%1$I IS DISTINCT FROM NEW.%1$I)'
                   ' EXECUTE FUNCTION @extschema@.reject_key_change(%3$L, %4$L)',
                   v_config.key_column, p_level_one, v_config.key_column,
                   format('%I.%I', v_config.table_schema, v_config.table_name));
  END IF;
  -- The unique registries' row trigger sits where the guard does, for the
  -- same reason (see install_unique_triggers): every path that makes a
  -- level-1 partition or a pool leaf comes here, so none is made without it.
  PERFORM @extschema@.unique_row_trigger(p_config_id, p_level_one);
END;
$$;
COMMENT ON FUNCTION @extschema@.guard_level_one(int, regclass) IS
  'Creates the key guard (and the unique registries'' row trigger) on one level-1 partition or pool leaf of a managed table, when missing.';

-- install_key_guard(config): the key guard on every level-1 partition of a
-- key and every pool leaf that lacks one (a partition attached by hand;
-- routing installed over a tree Partwise did not make). A migration's
-- partitions each get theirs as they are created, so on its tree this finds
-- none missing. The pool itself gets none (see above).
-- Locks: those of guard_level_one, for each partition missing the guard.
CREATE OR REPLACE FUNCTION @extschema@.install_key_guard(p_config_id int)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parted regclass := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  v_pool regclass := (SELECT p.pool_partition FROM @extschema@.key_pool p WHERE p.config_id = p_config_id);
  v_level_one regclass;
BEGIN
  FOR v_level_one IN
    SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
     WHERE ((i.inhparent = v_parted AND i.inhrelid IS DISTINCT FROM v_pool) OR i.inhparent = v_pool)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                        WHERE t.tgrelid = i.inhrelid AND t.tgname = 'partwise_key_guard')
     ORDER BY i.inhrelid
  LOOP
    PERFORM @extschema@.guard_level_one(p_config_id, v_level_one);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.install_key_guard(int) IS
  'Creates the key guard on each level-1 partition and pool leaf of a managed table that lacks it.';

-- routing_insert_sql: the routing trigger's INSERT of one row into the
-- partitioned table, in its three forms by what the inserting role may read
-- (v_returning: 1 the whole view, 2 some of its columns, 0 nothing). The
-- second form is built per row for the columns the role may read (the
-- others come back as they went in): column grants on SELECT are rare, and
-- an EXECUTE per row is the price of returning exactly what PostgreSQL lets
-- that role see. Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.routing_insert_sql(
  p_parted_sql text, p_columns text, p_values text, p_dynamic_values text, p_returning text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT format(
$code$IF v_returning = 1 THEN
      INSERT INTO %1$s AS p (%2$s) VALUES (%3$s) RETURNING %4$s INTO NEW;
    ELSIF v_returning = 0 THEN
      INSERT INTO %1$s AS p (%2$s) VALUES (%3$s);
    ELSE
      EXECUTE pg_catalog.format(%5$L, v_readable) INTO NEW USING NEW, v_bucket_id;
    END IF;$code$,
    p_parted_sql, p_columns, p_values, p_returning,
    -- A template for format(): any % in a quoted name is doubled.
    replace(format('INSERT INTO %s AS p (%s) VALUES (%s)', p_parted_sql, p_columns, p_dynamic_values), '%', '%%')
      || ' RETURNING %s')
$$;
COMMENT ON FUNCTION @extschema@.routing_insert_sql(text, text, text, text, text) IS
  'Code of the routing trigger''s INSERT into the partitioned table, by what the inserting role may read.';

-- routing_checks_sql(config): code that checks a row's NOT NULL and CHECK
-- constraints in the routing trigger, before a bucket is taken, so that a
-- violation names the application's table (and the constraint, with the
-- failing row), not the leaf partition where PostgreSQL would find it
-- (`new row for relation "events_tenant_id_5_bucket_id_1" violates ...`).
-- The table checks the row again, as always.
--
-- Only what the trigger sees exactly as the table will is checked here: not
-- identity or generated columns (the table computes them), and nothing at
-- all when the table has BEFORE INSERT row triggers (they may change the
-- row). Such violations still name the leaf. A check that fails here raises
-- only if the table still has that constraint as compiled, and still no
-- BEFORE INSERT trigger (raise_violation): a constraint dropped or a trigger
-- added since the last refresh never refuses a row the table would take.
-- Each CHECK is evaluated on the row's values held in variables named after
-- the columns, in name order as PostgreSQL does, NOT NULL first. An EXCEPTION
-- block around the insert would rename the error too, but costs a
-- subtransaction per row (and overflows the subtransaction cache in large
-- multi-row inserts); this costs one expression per constraint.
-- Reads the catalog; no locks.
CREATE OR REPLACE FUNCTION @extschema@.routing_checks_sql(p_config_id int)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parted regclass := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  v_view text := format('%I.%I', v_config.table_schema, v_config.table_name);
  v_not_null text;
  v_declarations text;
  v_checks text;
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
              WHERE tgrelid = v_parted AND NOT tgisinternal AND tgenabled <> 'D'
                AND tgtype & (1 | 2 | 4) = (1 | 2 | 4)) THEN  -- ROW, BEFORE, INSERT
    RETURN '';
  END IF;
  SELECT string_agg(format(E'  IF NEW.%1$I IS NULL THEN\n    PERFORM @extschema@.raise_violation(%2$L::pg_catalog.regclass, %3$L::pg_catalog.regclass, ''n'', %4$L, NULL, NEW);\n  END IF;',
                           a.attname, v_parted::text, v_view, a.attname), E'\n' ORDER BY a.attnum)
    INTO v_not_null
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = v_parted AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull
     AND a.attidentity = '' AND a.attgenerated = ''
     AND a.attname NOT IN (v_config.bucket_column, v_config.key_column);

  -- CHECK constraints whose columns the trigger sees as the table will.
  WITH checks AS (
    SELECT c.conname, c.conkey, pg_catalog.pg_get_expr(c.conbin, c.conrelid) AS expression
      FROM pg_catalog.pg_constraint c
     WHERE c.conrelid = v_parted AND c.contype = 'c'
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                        WHERE a.attrelid = v_parted AND a.attnum = ANY (c.conkey)
                          AND (a.attidentity <> '' OR a.attgenerated <> '' OR a.attname = v_config.bucket_column))
       AND NOT EXISTS (SELECT 1 FROM unnest(c.conkey) k WHERE k <= 0)
  )
  SELECT string_agg(format(E'    IF (%1$s) IS FALSE THEN\n      PERFORM @extschema@.raise_violation(%2$L::pg_catalog.regclass, %3$L::pg_catalog.regclass, ''c'', %4$L, %5$L, NEW);\n    END IF;',
                           ch.expression, v_parted::text, v_view, ch.conname, ch.expression), E'\n' ORDER BY ch.conname),
         (SELECT string_agg(format('    %1$I %2$s%3$s := NEW.%1$I;', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                                   CASE WHEN a.attcollation <> t.typcollation
                                        THEN (SELECT format(' COLLATE %I.%I', n.nspname, co.collname)
                                                FROM pg_catalog.pg_collation co JOIN pg_catalog.pg_namespace n ON n.oid = co.collnamespace
                                               WHERE co.oid = a.attcollation)
                                        ELSE '' END), E'\n' ORDER BY a.attnum)
            FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
           WHERE a.attrelid = v_parted
             AND a.attnum IN (SELECT unnest(c.conkey) FROM checks c))
    INTO v_checks, v_declarations
    FROM checks ch;

  RETURN concat_ws(E'\n',
    CASE WHEN v_not_null IS NOT NULL THEN E'  -- NOT NULL and CHECK constraints, checked first so that a violation names the table\n' || v_not_null END,
    CASE WHEN v_checks IS NOT NULL THEN format(E'  DECLARE\n%s\n  BEGIN\n%s\n  END;', v_declarations, v_checks) END);
END;
$$;
COMMENT ON FUNCTION @extschema@.routing_checks_sql(int) IS
  'Code of the routing trigger that checks NOT NULL and CHECK constraints so that violations name the table.';

-- raise_violation: raise the error PostgreSQL raises for a NOT NULL ('n',
-- p_name a column) or CHECK ('c', p_name a constraint, p_expression its
-- expression as the routing trigger compiled it) violation, naming the
-- application's view instead of a leaf, with the failing row as DETAIL.
-- Unless the partitioned table no longer matches what the trigger compiled
-- (constraint gone or changed, BEFORE INSERT trigger added): then it returns,
-- and the table decides. Runs with the inserting role's rights, so that the
-- failing row shows only what that role may read. Reads the catalog.
CREATE OR REPLACE FUNCTION @extschema@.raise_violation(
  p_parted regclass, p_view regclass, p_kind "char", p_name name, p_expression text, p_row anyelement)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_schema name := (SELECT n.nspname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_view);
  v_table name := (SELECT relname FROM pg_catalog.pg_class WHERE oid = p_view);
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
              WHERE tgrelid = p_parted AND NOT tgisinternal AND tgenabled <> 'D' AND tgtype & (1 | 2 | 4) = (1 | 2 | 4)) THEN
    RETURN;
  END IF;
  IF p_kind = 'n' THEN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = p_parted AND attname = p_name AND attnotnull) THEN
      RETURN;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'not_null_violation',
      MESSAGE = format('null value in column "%s" of relation "%s" violates not-null constraint', p_name, v_table),
      DETAIL = @extschema@.violation_detail(p_view, p_row),
      SCHEMA = v_schema, TABLE = v_table, COLUMN = p_name;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint
                  WHERE conrelid = p_parted AND contype = 'c' AND conname = p_name
                    AND pg_catalog.pg_get_expr(conbin, conrelid) = p_expression) THEN
    RETURN;
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'check_violation',
    MESSAGE = format('new row for relation "%s" violates check constraint "%s"', v_table, p_name),
    DETAIL = @extschema@.violation_detail(p_view, p_row),
    SCHEMA = v_schema, TABLE = v_table, CONSTRAINT = p_name;
END;
$$;
COMMENT ON FUNCTION @extschema@.raise_violation(regclass, regclass, "char", name, text, anyelement) IS
  'Raises a NOT NULL or CHECK violation naming the application''s table, unless the table changed since routing was generated.';

-- violation_detail(view, row): PostgreSQL's "Failing row contains (...)"
-- for a row of the view: every column to a role that may read the view,
-- else "(columns) = (values)" of the columns it may read, else nothing.
-- Values are cut at 64 bytes, as PostgreSQL does. Runs with the caller's
-- rights; reads the catalog.
CREATE OR REPLACE FUNCTION @extschema@.violation_detail(p_view regclass, p_row anyelement)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_whole boolean := has_table_privilege(p_view, 'SELECT');
  v_names text[] := '{}';
  v_values text[] := '{}';
  v_is_null boolean;
  v_text text;
  v_column record;
BEGIN
  FOR v_column IN
    SELECT attname, attnum FROM pg_catalog.pg_attribute
     WHERE attrelid = p_view AND attnum > 0 AND NOT attisdropped ORDER BY attnum
  LOOP
    CONTINUE WHEN NOT (v_whole OR has_column_privilege(p_view, v_column.attnum, 'SELECT'));
    EXECUTE format('SELECT ($1).%1$I IS NULL, format(''%%s'', ($1).%1$I)', v_column.attname)
       INTO v_is_null, v_text USING p_row;
    IF v_is_null THEN
      v_text := 'null';
    ELSIF octet_length(v_text) > 64 THEN
      v_text := left(v_text, 64);
      WHILE octet_length(v_text) > 64 LOOP
        v_text := left(v_text, -1);
      END LOOP;
      v_text := v_text || '...';
    END IF;
    v_names := v_names || v_column.attname::text;
    v_values := v_values || v_text;
  END LOOP;
  IF cardinality(v_values) = 0 THEN
    RETURN NULL;
  END IF;
  RETURN 'Failing row contains '
         || CASE WHEN v_whole THEN '' ELSE '(' || array_to_string(v_names, ', ') || ') = ' END
         || '(' || array_to_string(v_values, ', ') || ').';
END;
$$;
COMMENT ON FUNCTION @extschema@.violation_detail(regclass, anyelement) IS
  'PostgreSQL''s "Failing row contains" detail for a row of a view, limited to what the caller may read.';

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
