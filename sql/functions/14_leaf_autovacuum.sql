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
-- only moved: given back its setting after the swap, autovacuum vacuums and
-- analyzes each leaf as it would have, while the application uses the new
-- table at its full rate instead of the catch-up's paused one.
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

-- restore_leaf_autovacuum(config, budget): after the swap, gives autovacuum
-- back to at most p_budget leaves of the table that still hold it off (made
-- with filling_leaf_options): the leaf's autovacuum_enabled set as the
-- original table had it, or reset, and its TOAST table's reset (leaves carry
-- no TOAST parameters of the original's). Returns how many leaves it changed:
-- the caller commits and calls again until none is left. Reads the tree from
-- pg_inherits and pg_class (pg_partition_tree would lock every partition it
-- lists), so a call finds what an interrupted run left, and locks only the
-- leaves it changes.
-- Locks: SHARE UPDATE EXCLUSIVE on each leaf changed (and its TOAST table),
-- until commit: the application's reads and writes go on; a VACUUM, ANALYZE
-- or CREATE INDEX on the leaf waits, or is waited for.
CREATE OR REPLACE FUNCTION @extschema@.restore_leaf_autovacuum(p_config_id int, p_budget int)
RETURNS int
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_original text := (SELECT substr(o, strpos(o, '=') + 1) FROM unnest(v_config.leaf_options) o
                       WHERE split_part(o, '=', 1) = 'autovacuum_enabled');
  v_leaf regclass;
  v_changed int := 0;
BEGIN
  FOR v_leaf IN
    WITH RECURSIVE tree(relid) AS (
      SELECT format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass::oid
      UNION ALL
      SELECT h.inhrelid FROM pg_catalog.pg_inherits h JOIN tree ON h.inhparent = tree.relid)
    SELECT c.oid::regclass
      FROM tree t
      JOIN pg_catalog.pg_class c ON c.oid = t.relid
      LEFT JOIN pg_catalog.pg_class toast ON toast.oid = c.reltoastrelid
     WHERE c.relkind = 'r'
       AND ((SELECT substr(o, strpos(o, '=') + 1) FROM unnest(c.reloptions) o
              WHERE split_part(o, '=', 1) = 'autovacuum_enabled') IS DISTINCT FROM v_original
            OR 'autovacuum_enabled=false' = ANY (toast.reloptions))
     ORDER BY c.oid
     LIMIT p_budget
  LOOP
    EXECUTE format('ALTER TABLE %s %s, RESET (toast.autovacuum_enabled)', v_leaf,
                   CASE WHEN v_original IS NULL THEN 'RESET (autovacuum_enabled)'
                        ELSE format('SET (autovacuum_enabled = %L)', v_original) END);
    v_changed := v_changed + 1;
  END LOOP;
  RETURN v_changed;
END;
$$;
COMMENT ON FUNCTION @extschema@.restore_leaf_autovacuum(int, int) IS
  'After the swap: gives autovacuum back to a group of leaves the migration filled with it held off.';
