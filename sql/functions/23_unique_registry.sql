-- Unique registries (see sql/migrations/0005_unique_registry.sql): keeping a
-- PRIMARY KEY or UNIQUE constraint of the original table enforced across the
-- whole partitioned table, not only within each bucket.
--
-- During the migration a registry follows the ORIGINAL table, which is always
-- consistent: it is filled from it a block range per short transaction, with
-- the rows that have no entry in the registries' change log (started at
-- prepare: fill_unique_registries), then brought up to date from that log
-- (sync_unique_registries, in a REPEATABLE READ transaction: every row it
-- touches is read in the snapshot in which the log was read). At the swap,
-- with the table locked, it is synced a last time and from then on kept by
-- row triggers on its level-1 partitions and pool leaves (install_unique_triggers). The partitioned table itself is no source
-- before the swap: it receives the logged changes key by key, in batches, so
-- between two batches it may hold a value twice that the original never held
-- twice at once.

-- A registry is made in three steps, so that no snapshot is held while the
-- whole original table is read (it would keep vacuum from removing dead rows
-- anywhere in the database): create_unique_registry makes it empty and
-- registers it; the migration calls fill_unique_registries for each block
-- range of the original table, each in a short transaction of its own;
-- index_unique_registry then adds its unique constraint, one sort of the
-- registry's own narrow rows (cheaper than maintaining the index through the
-- fill). Until that constraint exists the registry is being filled:
-- sync_unique_registries and install_unique_triggers refuse it.
DROP FUNCTION IF EXISTS @extschema@.build_unique_registry(int, name, name, name, name[], name[], boolean, boolean, boolean);
-- sync_unique_registries before it applied the log in batches (p_limit).
DROP FUNCTION IF EXISTS @extschema@.sync_unique_registries(int, name);

-- registry_columns: a registry's columns, in order: the constraint's key,
-- then the row identity's columns that the key does not already hold. The
-- registry's table, its fill, its sync and its triggers all list them so.
CREATE OR REPLACE FUNCTION @extschema@.registry_columns(p_key name[], p_identity name[])
RETURNS name[]
LANGUAGE sql IMMUTABLE
AS $$
  SELECT p_key || ARRAY(SELECT c FROM unnest(p_identity) c WHERE c <> ALL (p_key))
$$;
COMMENT ON FUNCTION @extschema@.registry_columns(name[], name[]) IS
  'The columns of a unique registry: the key, then the rest of the row identity.';

-- create_unique_registry: the empty registry of one constraint, registered
-- (so that a rollback or uninstall finds it, filled or not).
-- Locks: ACCESS SHARE on the original table (its columns are read).
CREATE OR REPLACE FUNCTION @extschema@.create_unique_registry(
  p_config_id int, p_constraint name, p_registry name, p_index_name name,
  p_key name[], p_identity name[], p_nulls_not_distinct boolean, p_deferrable boolean, p_deferred boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_source regclass := format('%I.%I', v_config.table_schema, v_config.table_name)::regclass;
  v_columns name[] := @extschema@.registry_columns(p_key, p_identity);
  v_definitions text;
BEGIN
  SELECT string_agg(format('%I %s%s%s', a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
                           CASE WHEN a.attcollation <> 0
                                THEN (SELECT format(' COLLATE %I.%I', n.nspname, c.collname)
                                        FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
                                       WHERE c.oid = a.attcollation)
                                ELSE '' END,
                           CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END), ', ' ORDER BY u.n)
    INTO v_definitions
    FROM unnest(v_columns) WITH ORDINALITY u(name, n)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = v_source AND a.attname = u.name AND NOT a.attisdropped;
  EXECUTE format('CREATE TABLE @extschema@.%I (%s)', p_registry, v_definitions);
  EXECUTE format('COMMENT ON TABLE @extschema@.%I IS %L', p_registry,
                 format('Keeps %s of %I.%I unique across all its partitions (Partwise).',
                        p_constraint, v_config.table_schema, v_config.table_name));
  INSERT INTO @extschema@.unique_registry
         (config_id, constraint_name, registry_table, registry_index, key_columns, identity_columns,
          nulls_not_distinct, is_deferrable, initially_deferred)
  VALUES (p_config_id, p_constraint, p_registry, p_index_name, p_key, p_identity,
          p_nulls_not_distinct, p_deferrable, p_deferred);
END;
$$;
COMMENT ON FUNCTION @extschema@.create_unique_registry(int, name, name, name, name[], name[], boolean, boolean, boolean) IS
  'Creates and registers the empty registry that keeps one constraint unique across a partitioned table.';

-- unfilled_unique_registries: the registries of the table still being filled
-- (their unique constraint not yet added), by constraint name.
CREATE OR REPLACE FUNCTION @extschema@.unfilled_unique_registries(p_config_id int)
RETURNS SETOF name
LANGUAGE sql STABLE
AS $$
  SELECT r.constraint_name
    FROM @extschema@.unique_registry r
   WHERE r.config_id = p_config_id AND NOT r.enforced
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                      WHERE c.conname = r.registry_index
                        AND c.conrelid = to_regclass(format('@extschema@.%I', r.registry_table)))
   ORDER BY r.constraint_name
$$;

-- fill_unique_registries: add to every registry of the table still being
-- filled the rows of the original table in blocks p_first_block (inclusive)
-- to p_end_block (exclusive) that have no entry in p_log, the registries'
-- change log, as the statement's snapshot sees them; returns the rows added
-- (to the registry that took the most: the others skip rows with a NULL in
-- their key). Why each registry gets every row once, except those the log
-- leaves to sync_unique_registries: the log records every row changed since
-- before the first range was filled (prepare starts it), in the transaction
-- that changes the row, so in any snapshot a row with no visible log entry
-- existed before the log started, unchanged since, at the TID it had then:
-- it lies in one range, and is added once. A row changed before its range is
-- filled is logged, so not added; one changed after is logged too, and the
-- sync replaces its entry (by row identity) with the row as it stands. The
-- log must not be consumed (synced) until every range is filled: a consumed
-- entry would make its row look unchanged again to a range filled later.
-- Below PostgreSQL 14 (no TID range scans) the range is read as the list of
-- every TID its blocks could hold (p_tuples_per_page each). The caller locks
-- the original table and checks that its storage is the one it divided into
-- ranges (a rewrite moves rows without logging them).
-- Locks: ACCESS SHARE on the original table and the log, ROW EXCLUSIVE on the registries.
CREATE OR REPLACE FUNCTION @extschema@.fill_unique_registries(
  p_config_id int, p_log name, p_first_block bigint, p_end_block bigint, p_tuples_per_page int)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_source text := format('%I.%I', v_config.table_schema, v_config.table_name);
  v_registry @extschema@.unique_registry;
  v_columns name[];
  v_range text := CASE WHEN current_setting('server_version_num')::int >= 140000
    THEN format('s.ctid >= %L::tid AND s.ctid < %L::tid', format('(%s,0)', p_first_block), format('(%s,0)', p_end_block))
    ELSE format('s.ctid = ANY (ARRAY(SELECT format(''(%%s,%%s)'', b, o)::tid FROM generate_series(%s::bigint, %s::bigint - 1) b, generate_series(1, %s) o))',
                p_first_block, p_end_block, p_tuples_per_page) END;
  v_rows bigint;
  v_added bigint := 0;
BEGIN
  FOR v_registry IN
    SELECT * FROM @extschema@.unique_registry
     WHERE config_id = p_config_id AND constraint_name IN (SELECT @extschema@.unfilled_unique_registries(p_config_id))
  LOOP
    v_columns := @extschema@.registry_columns(v_registry.key_columns, v_registry.identity_columns);
    EXECUTE format('INSERT INTO @extschema@.%I (%s) SELECT %s FROM %s s WHERE %s AND %s AND NOT EXISTS (SELECT 1 FROM @extschema@.%I l WHERE %s)',
                   v_registry.registry_table,
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_columns) c),
                   (SELECT string_agg(format('s.%I', c), ', ') FROM unnest(v_columns) c),
                   v_source, v_range,
                   @extschema@.registrable_condition('s', v_registry.key_columns, v_registry.nulls_not_distinct),
                   p_log,
                   (SELECT string_agg(format('l.%1$I = s.%1$I', c), ' AND ') FROM unnest(v_registry.identity_columns) c));
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    v_added := greatest(v_added, v_rows);
  END LOOP;
  RETURN v_added;
END;
$$;
COMMENT ON FUNCTION @extschema@.fill_unique_registries(int, name, bigint, bigint, int) IS
  'Adds the unchanged rows of one block range of the original table to the registries being filled.';

-- index_unique_registry: once every range is filled, the registry's unique
-- constraint, named p_index_name, and an index on the row identity (for the
-- sync, until the swap). A duplicate here means the fill went wrong: the
-- original's own constraint kept its rows unique.
-- Locks: ACCESS EXCLUSIVE on the registry (nobody else uses it yet).
CREATE OR REPLACE FUNCTION @extschema@.index_unique_registry(p_config_id int, p_constraint name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_registry @extschema@.unique_registry;
BEGIN
  SELECT * INTO STRICT v_registry FROM @extschema@.unique_registry
   WHERE config_id = p_config_id AND constraint_name = p_constraint;
  EXECUTE format('ALTER TABLE @extschema@.%I ADD CONSTRAINT %I UNIQUE%s (%s)%s',
                 v_registry.registry_table, v_registry.registry_index,
                 CASE WHEN v_registry.nulls_not_distinct THEN ' NULLS NOT DISTINCT' ELSE '' END,
                 (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_registry.key_columns) c),
                 CASE WHEN NOT v_registry.is_deferrable THEN ''
                      WHEN v_registry.initially_deferred THEN ' DEFERRABLE INITIALLY DEFERRED' ELSE ' DEFERRABLE' END);
  IF NOT v_registry.identity_columns <@ v_registry.key_columns THEN
    EXECUTE format('CREATE INDEX %I ON @extschema@.%I (%s)', @extschema@.derived_name(v_registry.registry_table, '_identity'),
                   v_registry.registry_table,
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_registry.identity_columns) c));
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.index_unique_registry(int, name) IS
  'Adds the unique constraint of a filled registry.';

-- registrable_condition: the SQL condition under which a row (alias p_alias,
-- or NEW / OLD) has a registry entry. With NULLS DISTINCT (the default) a key
-- with a NULL in it conflicts with nothing and is not registered.
CREATE OR REPLACE FUNCTION @extschema@.registrable_condition(p_alias text, p_key name[], p_nulls_not_distinct boolean)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN p_nulls_not_distinct THEN 'true'
              ELSE (SELECT string_agg(format('%s.%I IS NOT NULL', p_alias, c), ' AND ') FROM unnest(p_key) c) END
$$;

-- sync_unique_registries: bring every registry of a table not yet enforced up
-- to date with the original table for the rows of the first p_limit entries
-- of p_log, in log order, that the caller's snapshot sees (every entry when
-- p_limit is NULL), and consume those entries. Call it in a REPEATABLE READ
-- transaction (or with the original table locked against writes): the log,
-- the registry and the original table must be read in one snapshot. Returns
-- the entries consumed: fewer than p_limit when the snapshot saw no more.
--
-- Batches (p_limit), each in a short transaction of its own, leave the
-- registry as one sync of the whole log would. A batch makes the entries of
-- its rows what those rows are in its snapshot; the other rows' entries stay
-- as they were registered, and one of them may hold a value that a row of the
-- batch holds now (rows 1 and 2 swapped their values, the batch has row 1's
-- entry and not yet row 2's). Such an entry is stale: in the snapshot the
-- original holds each value once, so that row changed after its entry was
-- made, and every change since is in the log, visible to this snapshot (it
-- is logged in the transaction that makes it) and not consumed (consuming it
-- would have made its entry again). So the batch removes it, and a later
-- batch, or the swap's last sync, registers that row as it then stands. The
-- registries are not enforced before the swap: nothing reads them between
-- two batches.
-- Locks: ROW EXCLUSIVE on the registries and the log; ACCESS SHARE on the
-- original table.
-- Every statement joins a batch (thousands of rows at most, when p_limit is
-- set) to tables of millions: the batch must drive, an index probe per row,
-- whatever the planner guesses of the log (see syncRegistries): hash and
-- merge joins are off for the function, as for the catch-up's replay.
CREATE OR REPLACE FUNCTION @extschema@.sync_unique_registries(p_config_id int, p_log name, p_limit bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_source text := format('%I.%I', v_config.table_schema, v_config.table_name);
  v_registry @extschema@.unique_registry;
  v_columns name[];
  v_identity_list text;
  v_batch text;
  v_now text;
  v_first bigint;
  v_last bigint;
  v_nulls boolean;
  v_consumed bigint;
  v_unfilled name := (SELECT min(n) FROM @extschema@.unfilled_unique_registries(p_config_id) n);
BEGIN
  -- Consuming the log before every range is filled would let a later range
  -- add a row the sync already added (fill_unique_registries).
  IF v_unfilled IS NOT NULL THEN
    RAISE EXCEPTION 'partwise: the registry of % is still being filled', v_unfilled;
  END IF;
  -- The batch: the first p_limit entries this snapshot sees, which are all
  -- those it sees between the first and the last of them (by the log's
  -- primary key, whose statistics the planner has: see syncRegistries).
  EXECUTE format('SELECT min(change_id), max(change_id) FROM (SELECT change_id FROM @extschema@.%I ORDER BY change_id LIMIT $1) t', p_log)
     INTO v_first, v_last USING p_limit;
  IF v_last IS NULL THEN
    RETURN 0;
  END IF;
  FOR v_registry IN SELECT * FROM @extschema@.unique_registry WHERE config_id = p_config_id AND NOT enforced LOOP
    v_columns := @extschema@.registry_columns(v_registry.key_columns, v_registry.identity_columns);
    v_identity_list := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_registry.identity_columns) c);
    v_batch := format('(SELECT DISTINCT %s FROM @extschema@.%I WHERE change_id BETWEEN $1 AND $2) l', v_identity_list, p_log);
    -- The batch's rows as they now stand, those that have an entry.
    v_now := format('%s s JOIN %s ON %s WHERE %s', v_source, v_batch,
                    (SELECT string_agg(format('s.%1$I = l.%1$I', c), ' AND ') FROM unnest(v_registry.identity_columns) c),
                    @extschema@.registrable_condition('s', v_registry.key_columns, v_registry.nulls_not_distinct));
    -- Every logged row's entry goes, then comes back as the row now stands
    -- (if it still exists), once the stale entries of other rows that hold
    -- its value are gone (see above).
    EXECUTE format('DELETE FROM @extschema@.%I r USING %s WHERE %s',
                   v_registry.registry_table, v_batch,
                   (SELECT string_agg(format('r.%1$I = l.%1$I', c), ' AND ') FROM unnest(v_registry.identity_columns) c))
      USING v_first, v_last;
    -- By the registry's unique index: "=" finds no NULL, and a key with a
    -- NULL has an entry only under NULLS NOT DISTINCT (below).
    EXECUTE format('DELETE FROM @extschema@.%I r USING %s AND %s',
                   v_registry.registry_table, v_now,
                   (SELECT string_agg(format('r.%1$I = s.%1$I', c), ' AND ') FROM unnest(v_registry.key_columns) c))
      USING v_first, v_last;
    IF v_registry.nulls_not_distinct THEN
      -- Not by the index (IS NOT DISTINCT FROM is no index condition), so
      -- only when the batch has such a row.
      EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s AND NOT (%s))', v_now,
                     (SELECT string_agg(format('s.%I IS NOT NULL', c), ' AND ') FROM unnest(v_registry.key_columns) c))
         INTO v_nulls USING v_first, v_last;
      IF v_nulls THEN
        EXECUTE format('DELETE FROM @extschema@.%I r USING %s AND NOT (%s) AND %s',
                       v_registry.registry_table, v_now,
                       (SELECT string_agg(format('s.%I IS NOT NULL', c), ' AND ') FROM unnest(v_registry.key_columns) c),
                       (SELECT string_agg(format('r.%1$I IS NOT DISTINCT FROM s.%1$I', c), ' AND ') FROM unnest(v_registry.key_columns) c))
          USING v_first, v_last;
      END IF;
    END IF;
    EXECUTE format('INSERT INTO @extschema@.%I (%s) SELECT %s FROM %s',
                   v_registry.registry_table,
                   (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_columns) c),
                   (SELECT string_agg(format('s.%I', c), ', ') FROM unnest(v_columns) c),
                   v_now)
      USING v_first, v_last;
  END LOOP;
  EXECUTE format('DELETE FROM @extschema@.%I WHERE change_id BETWEEN $1 AND $2', p_log) USING v_first, v_last;
  GET DIAGNOSTICS v_consumed = ROW_COUNT;
  RETURN v_consumed;
END;
$$;
COMMENT ON FUNCTION @extschema@.sync_unique_registries(int, name, bigint) IS
  'Applies a batch of the rows logged since the last sync (all of them when no limit is given) to the registries of a table being migrated.';

-- unique_row_block: the part of the row trigger function that keeps the
-- registry of a constraint that is not deferrable. Its registry never holds a
-- key twice, so an old key finds its one entry. The insert uses ON CONFLICT
-- DO NOTHING and raises the duplicate itself, naming the original constraint
-- and the application's table (no subtransaction per row); it waits, as any
-- unique insert does, for a concurrent transaction inserting the same key.
CREATE OR REPLACE FUNCTION @extschema@.unique_row_block(p_config @extschema@.partition_config, p_registry @extschema@.unique_registry)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_key name[] := p_registry.key_columns;
  v_columns name[] := @extschema@.registry_columns(v_key, p_registry.identity_columns);
  v_changed text := format('ROW(%s) IS DISTINCT FROM ROW(%s)',
                           (SELECT string_agg(format('OLD.%I', c), ', ') FROM unnest(v_key) c),
                           (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(v_key) c));
  -- With NULLS NOT DISTINCT a NULL matches a NULL: such a key is found with
  -- IS NULL, in a statement planned for the NULLs it has (still by the index).
  v_delete_with_nulls text := format('EXECUTE %L || concat_ws(%L, %s) USING %s;',
    format('DELETE FROM @extschema@.%I r WHERE ', p_registry.registry_table), ' AND ',
    (SELECT string_agg(format('CASE WHEN OLD.%1$I IS NULL THEN %2$L ELSE %3$L END', c,
                              format('r.%I IS NULL', c), format('r.%I = $%s', c, n)), ', ' ORDER BY n)
       FROM unnest(v_key) WITH ORDINALITY u(c, n)),
    (SELECT string_agg(format('OLD.%I', c), ', ' ORDER BY n) FROM unnest(v_key) WITH ORDINALITY u(c, n)));
BEGIN
  RETURN format($block$
  IF TG_OP <> 'INSERT' AND %2$s AND (TG_OP = 'DELETE' OR %3$s) THEN
    IF %4$s THEN
      DELETE FROM @extschema@.%5$I r WHERE %6$s;
    ELSE
      %7$s
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' AND %8$s AND (TG_OP = 'INSERT' OR %3$s) THEN
    INSERT INTO @extschema@.%5$I (%9$s) VALUES (%10$s) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'unique_violation', MESSAGE = %11$L,
        DETAIL = format('Key (%%s)=(%%s) already exists.', %12$L, concat_ws(', ', %13$s)),
        SCHEMA = %14$L, TABLE = %15$L, CONSTRAINT = %1$L;
    END IF;
  END IF;
$block$,
    p_registry.constraint_name,
    @extschema@.registrable_condition('OLD', v_key, p_registry.nulls_not_distinct),
    v_changed,
    (SELECT string_agg(format('OLD.%I IS NOT NULL', c), ' AND ') FROM unnest(v_key) c),
    p_registry.registry_table,
    (SELECT string_agg(format('r.%1$I = OLD.%1$I', c), ' AND ') FROM unnest(v_key) c),
    CASE WHEN p_registry.nulls_not_distinct THEN v_delete_with_nulls ELSE 'NULL;' END,
    @extschema@.registrable_condition('NEW', v_key, p_registry.nulls_not_distinct),
    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_columns) c),
    (SELECT string_agg(format('NEW.%I', c), ', ') FROM unnest(v_columns) c),
    format('duplicate key value violates unique constraint "%s"', p_registry.constraint_name),
    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_key) c),
    (SELECT string_agg(format('coalesce(NEW.%I::text, %L)', c, 'null'), ', ') FROM unnest(v_key) c),
    p_config.table_schema, p_config.table_name);
END;
$$;

-- unique_statement_block: the part of the statement trigger function that
-- keeps the registry of a deferrable constraint. Its own constraint is
-- checked at the end of the statement that changes it, or at commit: so the
-- registry changes once per application statement, from its transition
-- tables, and a deferrable-immediate constraint is checked where the
-- original was (UPDATE t SET slot = slot + 1 passes). Such a registry may hold
-- a key twice until the check: an old row takes away one entry of its key.
CREATE OR REPLACE FUNCTION @extschema@.unique_statement_block(p_registry @extschema@.unique_registry)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_key name[] := p_registry.key_columns;
  v_columns name[] := @extschema@.registry_columns(v_key, p_registry.identity_columns);
  v_equal text := CASE WHEN p_registry.nulls_not_distinct THEN 'IS NOT DISTINCT FROM' ELSE '=' END;
BEGIN
  RETURN format($block$
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM @extschema@.%2$I r
     USING (SELECT d.ctid AS entry
              FROM (SELECT %3$s, count(*) AS copies FROM partwise_old o WHERE %4$s GROUP BY %3$s) o
              CROSS JOIN LATERAL (SELECT e.ctid FROM @extschema@.%2$I e WHERE %5$s LIMIT o.copies) d) gone
     WHERE r.ctid = gone.entry;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO @extschema@.%2$I (%6$s) SELECT %7$s FROM partwise_new n WHERE %8$s;
  END IF;
$block$,
    p_registry.constraint_name,
    p_registry.registry_table,
    (SELECT string_agg(format('o.%I', c), ', ') FROM unnest(v_key) c),
    @extschema@.registrable_condition('o', v_key, p_registry.nulls_not_distinct),
    (SELECT string_agg(format('e.%1$I %2$s o.%1$I', c, v_equal), ' AND ') FROM unnest(v_key) c),
    (SELECT string_agg(quote_ident(c), ', ') FROM unnest(v_columns) c),
    (SELECT string_agg(format('n.%I', c), ', ') FROM unnest(v_columns) c),
    @extschema@.registrable_condition('n', v_key, p_registry.nulls_not_distinct));
END;
$$;

-- Where the row trigger sits. A row trigger on a partitioned table is cloned
-- onto every partition below it, and PostgreSQL drops the clones only with it
-- (or with their partition's detach): on the partitioned table, the
-- registries' row trigger made uninstall drop it with every partition's clone
-- in one transaction (two entries of the lock table per partition: out of
-- shared memory at 20,000 leaves with the defaults). So, as the key guard
-- (see guard_level_one), it sits on each level-1 partition of a key, whose
-- leaves get its clone as they are created, and on each leaf of the pool,
-- never on the partitioned table nor on the pool: uninstall drops it a group
-- of keys (or pool leaves) per transaction, in the key guard's batches
-- (guarded_partitions). It fires as the clones did: a row's trigger is the
-- one on its leaf. A leaf made after the registries' triggers exist gets it
-- with its level-1 partition (guard_level_one places both, on every path that
-- makes a level-1 partition or a pool leaf), or as a clone of it.
--
-- The statement triggers (deferrable constraints, TRUNCATE) stay on the
-- partitioned table: statement triggers are not cloned, and dropping them
-- locks the partitioned table alone.
--
-- Tables migrated by an earlier version have the row trigger on the
-- partitioned table: their new partitions get its clone, and nothing is
-- placed beside it (unique_row_trigger leaves them alone). Their uninstall
-- drops it as before, with every clone in one transaction
-- (drop_unique_registries): on a tree larger than the lock table it needs a
-- larger max_locks_per_transaction for that one transaction.

-- unique_row_trigger(config, relation): the registries' row trigger on one
-- level-1 partition of a key or one pool leaf, calling the table's row
-- function (unique_check_<config>), when that function exists (the
-- registries' triggers were installed: the partitions made before get it
-- from place_unique_triggers) and neither the relation (its own, or a clone:
-- same name) nor the partitioned table (an earlier version's) has it.
-- Locks: SHARE ROW EXCLUSIVE on the relation and its leaves (none when it
-- was just created), only when the trigger is missing.
CREATE OR REPLACE FUNCTION @extschema@.unique_row_trigger(p_config_id int, p_relation regclass)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_function regprocedure := to_regprocedure(format('@extschema@.%I()', 'unique_check_' || p_config_id));
BEGIN
  IF v_function IS NULL OR @extschema@.trigger_reaches(v_config, p_relation, 'partwise_unique') THEN
    RETURN;
  END IF;
  EXECUTE format('CREATE TRIGGER partwise_unique AFTER INSERT OR UPDATE OF %s OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION %s',
                 (SELECT string_agg(quote_ident(c), ', ') FROM unnest(@extschema@.unique_update_of(p_config_id)) c),
                 p_relation, v_function);
END;
$$;
COMMENT ON FUNCTION @extschema@.unique_row_trigger(int, regclass) IS
  'Creates the unique registries'' row trigger on one level-1 partition or pool leaf, when the table''s registries have one and it is missing.';

-- unique_update_of(config): the columns whose UPDATE the row trigger
-- watches: the keys of the registries that are not deferrable, each column
-- once. No locks.
CREATE OR REPLACE FUNCTION @extschema@.unique_update_of(p_config_id int)
RETURNS name[]
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(array_agg(DISTINCT k.c ORDER BY k.c), '{}')
    FROM @extschema@.unique_registry r, unnest(r.key_columns) k(c)
   WHERE r.config_id = p_config_id AND NOT r.is_deferrable
$$;

-- unique_trigger_missing(config): the level-1 partitions of a key and the
-- pool leaves of a table that lack the row trigger, with the relations
-- creating it locks (the partition and its leaves; a pool leaf alone), in
-- OID order. The pool itself is not one. None when the table has no row
-- function, or an earlier version's trigger on the partitioned table.
-- No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.unique_trigger_missing(p_config_id int)
RETURNS TABLE (relation regclass, relations bigint)
LANGUAGE sql STABLE
AS $$
  WITH t AS (
    SELECT format('%I.%I', c.table_schema, c.partitioned_table)::regclass AS parted,
           (SELECT p.pool_partition FROM @extschema@.key_pool p WHERE p.config_id = c.config_id) AS pool
      FROM @extschema@.partition_config c
     WHERE c.config_id = p_config_id
       AND to_regprocedure(format('@extschema@.%I()', 'unique_check_' || p_config_id)) IS NOT NULL)
  SELECT i.inhrelid::regclass, 1 + (SELECT count(*) FROM pg_catalog.pg_inherits l WHERE l.inhparent = i.inhrelid)
    FROM t JOIN pg_catalog.pg_inherits i
      ON (i.inhparent = t.parted AND i.inhrelid IS DISTINCT FROM t.pool) OR i.inhparent = t.pool
   WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                      WHERE g.tgrelid IN (i.inhrelid, t.parted) AND g.tgname = 'partwise_unique')
   ORDER BY i.inhrelid
$$;

-- place_unique_triggers(config, budget, lock timeout): the row trigger on
-- the next group of level-1 partitions and pool leaves lacking it, as many
-- as fit p_budget relations counting each with its leaves (at least one; all
-- when NULL). Returns how many got it: 0 when none lacks it, or (with
-- p_lock_timeout) when every one tried was busy. The engine calls it a group
-- per transaction once install_unique_triggers made the functions, so that
-- no transaction locks the whole tree.
-- With p_lock_timeout, a partition whose locks are not granted within it is
-- passed over, left for a later call: after the copy, autovacuum works
-- through the freshly filled leaves, and creating a trigger waits for it
-- (until deadlock_timeout has PostgreSQL cancel it, a second each): at 10M
-- rows on PostgreSQL 15 in the load bench, 28.6 s for 200 partitions, 0.2 s
-- with autovacuum off. Each try is a subtransaction, at most 50 a call
-- (beyond 64 in one transaction, other sessions' snapshots overflow).
-- Locks: those of unique_row_trigger, for each of the group.
DROP FUNCTION IF EXISTS @extschema@.place_unique_triggers(int, int);
CREATE OR REPLACE FUNCTION @extschema@.place_unique_triggers(
  p_config_id int, p_budget int DEFAULT NULL, p_lock_timeout text DEFAULT NULL)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  v_relation regclass;
  v_placed int := 0;
BEGIN
  IF p_lock_timeout IS NOT NULL THEN
    PERFORM set_config('lock_timeout', p_lock_timeout, true);
  END IF;
  FOR v_relation IN
    SELECT g.relation FROM (SELECT m.relation, sum(m.relations) OVER (ORDER BY m.relation) AS upto,
                                   row_number() OVER (ORDER BY m.relation) AS n
                              FROM @extschema@.unique_trigger_missing(p_config_id) m) g
     WHERE (p_budget IS NULL OR g.upto <= p_budget OR g.n = 1)
       AND (p_lock_timeout IS NULL OR g.n <= 50)
     ORDER BY g.relation
  LOOP
    IF p_lock_timeout IS NULL THEN
      PERFORM @extschema@.unique_row_trigger(p_config_id, v_relation);
      v_placed := v_placed + 1;
    ELSE
      BEGIN
        PERFORM @extschema@.unique_row_trigger(p_config_id, v_relation);
        v_placed := v_placed + 1;
      EXCEPTION WHEN lock_not_available THEN
        NULL; -- busy: left for a later call
      END;
    END IF;
  END LOOP;
  RETURN v_placed;
END;
$$;
COMMENT ON FUNCTION @extschema@.place_unique_triggers(int, int, text) IS
  'Creates the unique registries'' row trigger on the next group of partitions lacking it, passing over busy ones with a lock timeout; returns how many.';

-- install_unique_triggers: the functions that keep a table's registries,
-- and the triggers that call them: a row trigger for the constraints that
-- are not deferrable (on each level-1 partition and pool leaf, see above),
-- statement triggers with transition tables for the deferrable ones, and one
-- for TRUNCATE, on the partitioned table. Before the swap (p_enforce false)
-- the functions do nothing, and the row trigger is left to the caller, a
-- group of partitions per transaction (place_unique_triggers), outside the
-- swap's lock, while the partitioned table only receives the logged changes
-- and the registries follow the original table; partitions made from then on
-- get it as they are made. At the swap (p_enforce true; the caller has
-- synced the registries a last time with the original locked) the functions
-- get their bodies, which is all the swap's lock waits for; a partition
-- still lacking the row trigger gets it then (none, when the caller placed
-- them: the creating paths place it from the moment the function exists).
-- SECURITY DEFINER with a fixed search_path: the application's roles need no
-- rights on this schema.
-- Locks: SHARE ROW EXCLUSIVE on the partitioned table when its statement
-- triggers are created; at the swap, SHARE UPDATE EXCLUSIVE on the
-- partitioned table and the pool (below), and those of place_unique_triggers
-- for the partitions lacking the row trigger; giving the functions bodies
-- takes none.
CREATE OR REPLACE FUNCTION @extschema@.install_unique_triggers(p_config_id int, p_enforce boolean)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parted regclass := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  v_registry @extschema@.unique_registry;
  v_row_body text := '';
  v_statement_body text := '';
  v_truncate_body text := '';
  v_trigger record;
  v_unfilled name := (SELECT min(n) FROM @extschema@.unfilled_unique_registries(p_config_id) n);
BEGIN
  -- The row trigger's ON CONFLICT finds duplicates by the registry's unique constraint.
  IF v_unfilled IS NOT NULL THEN
    RAISE EXCEPTION 'partwise: the registry of % is still being filled', v_unfilled;
  END IF;
  FOR v_registry IN SELECT * FROM @extschema@.unique_registry WHERE config_id = p_config_id ORDER BY constraint_name LOOP
    IF v_registry.is_deferrable THEN
      v_statement_body := v_statement_body || @extschema@.unique_statement_block(v_registry);
    ELSE
      v_row_body := v_row_body || @extschema@.unique_row_block(v_config, v_registry);
    END IF;
    v_truncate_body := v_truncate_body || format(E'\n  TRUNCATE @extschema@.%I;', v_registry.registry_table);
    IF p_enforce THEN
      EXECUTE format('DROP INDEX IF EXISTS @extschema@.%I', @extschema@.derived_name(v_registry.registry_table, '_identity'));
    END IF;
  END LOOP;

  FOR v_trigger IN
    SELECT * FROM (VALUES
      ('unique_check_', v_row_body, ARRAY[]::text[]),
      ('unique_deferred_', v_statement_body, ARRAY[
        format('partwise_unique_deferred_insert AFTER INSERT ON %s REFERENCING NEW TABLE AS partwise_new FOR EACH STATEMENT', v_parted),
        format('partwise_unique_deferred_update AFTER UPDATE ON %s REFERENCING OLD TABLE AS partwise_old NEW TABLE AS partwise_new FOR EACH STATEMENT', v_parted),
        format('partwise_unique_deferred_delete AFTER DELETE ON %s REFERENCING OLD TABLE AS partwise_old FOR EACH STATEMENT', v_parted)]),
      ('unique_truncate_', v_truncate_body, ARRAY[format('partwise_unique_truncate AFTER TRUNCATE ON %s FOR EACH STATEMENT', v_parted)])
    ) t(prefix, body, triggers)
    WHERE body <> ''
  LOOP
    EXECUTE format($fn$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$fn$, v_trigger.prefix || p_config_id, format(E'BEGIN%s\n  RETURN NULL;\nEND', CASE WHEN p_enforce THEN v_trigger.body ELSE '' END));
    EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I() FROM PUBLIC', v_trigger.prefix || p_config_id);
    FOR i IN 1 .. cardinality(v_trigger.triggers) LOOP
      IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger
                      WHERE tgrelid = v_parted AND tgname = split_part(v_trigger.triggers[i], ' ', 1)) THEN
        EXECUTE format('CREATE TRIGGER %s EXECUTE FUNCTION @extschema@.%I()', v_trigger.triggers[i], v_trigger.prefix || p_config_id);
      END IF;
    END LOOP;
  END LOOP;
  IF p_enforce THEN
    -- A level-1 partition or pool leaf whose making checked for the row
    -- function before it existed, and commits only now, would be missed:
    -- SHARE UPDATE EXCLUSIVE waits for it (making one takes that mode or
    -- stronger) and lets the application's reads and writes go on.
    EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', v_parted);
    IF (SELECT p.pool_partition FROM @extschema@.key_pool p WHERE p.config_id = p_config_id) IS NOT NULL THEN
      EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE',
                     (SELECT p.pool_partition FROM @extschema@.key_pool p WHERE p.config_id = p_config_id));
    END IF;
    PERFORM @extschema@.place_unique_triggers(p_config_id);
    UPDATE @extschema@.unique_registry SET enforced = true WHERE config_id = p_config_id;
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.install_unique_triggers(int, boolean) IS
  'Creates the functions and statement triggers that keep the registries of a partitioned table, inert until the swap enforces them (and places the row trigger where missing).';

-- relax_unique_registries(config): the first step of dropping a table's
-- registries on a live tree (uninstall): every trigger function of theirs
-- does nothing from now on, so that the row triggers can go a group of
-- partitions per transaction. Still enforced on some partitions and not on
-- others, a registry would keep the entry of a row deleted from a partition
-- whose trigger is gone, and refuse that value's insert anywhere else: a
-- false duplicate. Not enforced at all is the end state (a plain
-- partitioned table, unique per bucket at most). Locks: none (a function
-- change).
CREATE OR REPLACE FUNCTION @extschema@.relax_unique_registries(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_function regprocedure;
BEGIN
  FOR v_function IN
    SELECT p.oid::regprocedure FROM pg_catalog.pg_proc p
     WHERE p.pronamespace = '@extschema@'::regnamespace
       AND p.proname IN ('unique_check_' || p_config_id, 'unique_deferred_' || p_config_id,
                         'unique_truncate_' || p_config_id)
  LOOP
    EXECUTE format('CREATE OR REPLACE FUNCTION %s RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER'
                   ' SET search_path = pg_catalog, pg_temp AS %L', v_function, E'BEGIN\n  RETURN NULL;\nEND');
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.relax_unique_registries(int) IS
  'Makes the trigger functions of a table''s unique registries do nothing (uninstall, before their triggers go).';

-- drop_unique_registries: remove a table's registries, their triggers and
-- functions (a rollback, or uninstall). Uninstall has dropped the row
-- triggers of the level-1 partitions and pool leaves already, a group per
-- transaction (guarded_partitions); what is left here is the statement
-- triggers, and a row trigger on the partitioned table (an earlier
-- version's: dropped with its clone on every partition, see above) or on a
-- partition uninstall does not list (one attached by hand).
-- Locks: ACCESS EXCLUSIVE on the registries; SHARE ROW EXCLUSIVE on each
-- relation whose trigger it drops (with every partition of the partitioned
-- table for an earlier version's row trigger; a rollback drops the
-- partitions first).
CREATE OR REPLACE FUNCTION @extschema@.drop_unique_registries(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_registry @extschema@.unique_registry;
  v_trigger record;
BEGIN
  -- The triggers are found by their functions: uninstall renames the
  -- partitioned table before it gets here. A clone goes with the trigger it
  -- was cloned from.
  FOR v_trigger IN
    SELECT t.tgname, t.tgrelid::regclass AS relation
      FROM pg_catalog.pg_trigger t
     WHERE t.tgfoid IN (SELECT oid FROM pg_catalog.pg_proc
                         WHERE pronamespace = '@extschema@'::regnamespace
                           AND proname IN ('unique_check_' || p_config_id, 'unique_deferred_' || p_config_id,
                                           'unique_truncate_' || p_config_id))
       AND t.tgparentid = 0
  LOOP
    EXECUTE format('DROP TRIGGER %I ON %s', v_trigger.tgname, v_trigger.relation);
  END LOOP;
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'unique_check_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'unique_deferred_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'unique_truncate_' || p_config_id);
  FOR v_registry IN SELECT * FROM @extschema@.unique_registry WHERE config_id = p_config_id LOOP
    EXECUTE format('DROP TABLE IF EXISTS @extschema@.%I', v_registry.registry_table);
  END LOOP;
  DELETE FROM @extschema@.unique_registry WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.drop_unique_registries(int) IS
  'Removes the unique registries of a table, with their triggers and functions.';
