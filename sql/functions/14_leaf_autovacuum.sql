-- Autovacuum held off the leaves a migration fills, until after the swap.
--
-- Why: the copy fills each leaf at once, past autovacuum's insert threshold,
-- and autovacuum then vacuums and analyzes the freshly filled leaves while
-- the copy, the index builds and the catch-up run. On a busy server that is
-- a table's worth of reading, hint bits and visibility map taken from the
-- migration's share of the CPU while the application's writes pile up in the
-- change log; and a leaf autovacuum holds (SHARE UPDATE EXCLUSIVE) makes
-- CREATE INDEX and CREATE TRIGGER on it wait until deadlock_timeout has
-- PostgreSQL cancel the autovacuum. Load bench, 10M rows under 4
-- unthrottled writers, alternated with the version before: on PostgreSQL 15
-- the swap came 37.2 and 45.5 s after the copy against 44.7 and 52.2 s, on
-- 18 50.6 s against 53.3 s (README, Performance). The work is not skipped,
-- only moved after the swap, where the application uses the new table at its
-- full rate instead of the catch-up's paused one: each leaf is analyzed as it
-- gets its setting back (so the run ends with planner statistics for every
-- leaf it filled, as pg_repack analyzes a table it rebuilt: the engine,
-- migration/leaf-autovacuum.ts), and autovacuum vacuums it when it comes
-- round.
-- A leaf made after the swap, or by routing during the catch-up, gets the
-- original's storage parameters alone (partition_config.leaf_options).

-- filling_leaf_options(options): the storage parameters of a leaf that the
-- migration provisions and fills: the original table's, with autovacuum off
-- on the leaf and its TOAST table (an autovacuum_enabled of the original's
-- is given back by restore_leaf_autovacuum). Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.filling_leaf_options(p_options text[])
RETURNS text[]
LANGUAGE sql IMMUTABLE
AS $$
  SELECT ARRAY(SELECT o FROM unnest(coalesce(p_options, '{}'::text[])) o
                WHERE split_part(o, '=', 1) NOT IN ('autovacuum_enabled', 'toast.autovacuum_enabled'))
         || ARRAY['autovacuum_enabled=false', 'toast.autovacuum_enabled=false']
$$;
COMMENT ON FUNCTION @extschema@.filling_leaf_options(text[]) IS
  'The storage parameters of a leaf a migration fills: the original''s, autovacuum held off until after the swap.';

-- storage_option(options, name): the value of one storage parameter in a
-- reloptions array (`name=value` entries), or NULL. Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.storage_option(p_options text[], p_name text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT substr(o, strpos(o, '=') + 1) FROM unnest(p_options) o WHERE split_part(o, '=', 1) = p_name
$$;
DROP FUNCTION IF EXISTS @extschema@.original_autovacuum(@extschema@.partition_config);

-- leaves_holding_autovacuum_off(config): the leaves of the table (in oid
-- order) whose autovacuum setting is not yet the original's again:
-- autovacuum_enabled other than the original's (made with
-- filling_leaf_options), or held off on their TOAST table. Reads the tree
-- from pg_inherits and pg_class (pg_partition_tree would lock every
-- partition it lists), so a call finds what an interrupted run left. No locks.
DROP FUNCTION IF EXISTS @extschema@.leaves_holding_autovacuum_off(int, int);
CREATE OR REPLACE FUNCTION @extschema@.leaves_holding_autovacuum_off(p_config_id int)
RETURNS SETOF regclass
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  RETURN QUERY
    WITH RECURSIVE tree(relid) AS (
      SELECT format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass::oid
      UNION ALL
      SELECT h.inhrelid FROM pg_catalog.pg_inherits h JOIN tree ON h.inhparent = tree.relid)
    SELECT c.oid::regclass
      FROM tree t
      JOIN pg_catalog.pg_class c ON c.oid = t.relid
      LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
     WHERE c.relkind = 'r'
       AND (@extschema@.storage_option(c.reloptions, 'autovacuum_enabled')
              IS DISTINCT FROM @extschema@.storage_option(v_config.leaf_options, 'autovacuum_enabled')
            OR 'autovacuum_enabled=false' = ANY (toast.reloptions))
     ORDER BY c.oid;
END;
$$;
COMMENT ON FUNCTION @extschema@.leaves_holding_autovacuum_off(int) IS
  'The leaves a migration filled with autovacuum held off that have not been given it back yet.';

-- analyze_leaf(leaf): ANALYZE of one leaf, which the engine calls a leaf per
-- transaction after the swap. A function rather than the statement itself:
-- pg_stat_statements (with its default track = top) then records one
-- statement for every leaf, where an ANALYZE sent per leaf made one entry
-- each, and on a tree of thousands of leaves evicted the application's own
-- statements from it (its 5,000 entries by default).
-- Locks: SHARE UPDATE EXCLUSIVE on the leaf, ACCESS SHARE on its indexes
-- and TOAST table, until commit.
CREATE OR REPLACE FUNCTION @extschema@.analyze_leaf(p_leaf regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  EXECUTE format('ANALYZE %s', p_leaf);
END;
$$;
COMMENT ON FUNCTION @extschema@.analyze_leaf(regclass) IS
  'ANALYZE of one leaf a migration filled, after the swap.';

-- restore_leaf_autovacuum(config, leaves): after the swap, gives the leaves
-- (from leaves_holding_autovacuum_off) autovacuum back: autovacuum_enabled
-- set as the original table had it, or reset, and their TOAST table's reset
-- (leaves carry no TOAST parameters of the original's). The engine analyzes
-- each leaf first, a short transaction each (autovacuum did not analyze it
-- while held off, and an ANALYZE of a group in one transaction would hold
-- its snapshot for as long as they all take): a leaf given its setting back
-- has been analyzed. Returns how many leaves it changed.
-- Locks: SHARE UPDATE EXCLUSIVE on each leaf (and its TOAST table), until
-- commit, milliseconds: the application's reads and writes go on; a VACUUM,
-- ANALYZE or CREATE INDEX on the leaf waits, or is waited for.
DROP FUNCTION IF EXISTS @extschema@.restore_leaf_autovacuum(int, int);
CREATE OR REPLACE FUNCTION @extschema@.restore_leaf_autovacuum(p_config_id int, p_leaves regclass[])
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  v_original text := @extschema@.storage_option((@extschema@.config_by_id(p_config_id)).leaf_options, 'autovacuum_enabled');
  v_leaf regclass;
BEGIN
  FOREACH v_leaf IN ARRAY p_leaves LOOP
    EXECUTE format('ALTER TABLE %s %s, RESET (toast.autovacuum_enabled)', v_leaf,
                   CASE WHEN v_original IS NULL THEN 'RESET (autovacuum_enabled)'
                        ELSE format('SET (autovacuum_enabled = %L)', v_original) END);
  END LOOP;
  RETURN coalesce(cardinality(p_leaves), 0);
END;
$$;
COMMENT ON FUNCTION @extschema@.restore_leaf_autovacuum(int, regclass[]) IS
  'After the swap: gives autovacuum back to leaves the migration filled with it held off (analyzed first by the engine).';
