-- create_partition: create one LIST partition of p_parent (a level-1 partition
-- of the table, or a bucket leaf of a level-1 partition) unless it exists.
--
-- Locks, and why:
-- * an advisory transaction lock on the partition's name, so that two sessions
--   racing to create the same partition do it once: the second waits for the
--   first to commit, then finds the partition and returns;
-- * online (the table is live): CREATE TABLE of a detached table, then
--   ATTACH PARTITION, which takes SHARE UPDATE EXCLUSIVE on the parent. Unlike
--   CREATE TABLE ... PARTITION OF (ACCESS EXCLUSIVE on the parent) it does not
--   block readers and writers of the parent. The lock is requested under a
--   short lock_timeout (setting partwise.lock_timeout, default 2s) and retried
--   with jittered backoff (partwise.lock_retries, default 5), so a long
--   transaction holding a conflicting lock yields a clear error, not a hang;
-- * offline (the tree is being built by a migration, nobody else uses it):
--   CREATE TABLE ... PARTITION OF, the faster form.
CREATE OR REPLACE FUNCTION @extschema@.create_partition(
  p_schema name,
  p_parent name,
  p_child name,
  p_bound text,
  p_subpartition_column name,
  p_online boolean,
  p_storage_options text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_lock_timeout text := coalesce(nullif(current_setting('partwise.lock_timeout', true), ''), '2s');
  v_attempts int := coalesce(nullif(current_setting('partwise.lock_retries', true), ''), '5')::int;
  v_previous_timeout text := current_setting('lock_timeout');
  v_parent regclass := format('%I.%I', p_schema, p_parent)::regclass;
  v_existing regclass;
  v_partition_by text := CASE WHEN p_subpartition_column IS NOT NULL
                              THEN format(' PARTITION BY LIST (%I)', p_subpartition_column)
                              WHEN cardinality(p_storage_options) > 0
                              THEN ' WITH (' || (SELECT string_agg(format('%I = %L', split_part(o, '=', 1),
                                                                         substr(o, strpos(o, '=') + 1)), ', ')
                                                   FROM unnest(p_storage_options) o) || ')'
                              ELSE '' END;
BEGIN
  PERFORM pg_advisory_xact_lock(hashtext('partwise.create_partition'), hashtext(p_schema || '.' || p_child));
  v_existing := to_regclass(format('%I.%I', p_schema, p_child));
  IF v_existing IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_inherits WHERE inhrelid = v_existing AND inhparent = v_parent) THEN
      RAISE EXCEPTION USING
        ERRCODE = 'duplicate_table',
        MESSAGE = format('partwise: %I.%I already exists and is not a partition of %I.%I', p_schema, p_child, p_schema, p_parent),
        HINT = 'Rename or drop that table; Partwise needs the name for a partition.';
    END IF;
    RETURN;
  END IF;

  IF NOT p_online THEN
    EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES IN (%L)%s',
                   p_schema, p_child, v_parent, p_bound, v_partition_by);
    RETURN;
  END IF;

  FOR v_attempt IN 1 .. greatest(v_attempts, 1) LOOP
    BEGIN
      PERFORM set_config('lock_timeout', v_lock_timeout, true);
      -- LIKE copies columns, NOT NULL, CHECK constraints and defaults, which
      -- ATTACH requires; indexes, foreign keys and row triggers are added by
      -- ATTACH itself from the parent.
      EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                     ' INCLUDING GENERATED INCLUDING STORAGE)%s',
                     p_schema, p_child, v_parent, v_partition_by);
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES IN (%L)',
                     v_parent, p_schema, p_child, p_bound);
      PERFORM set_config('lock_timeout', v_previous_timeout, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', v_previous_timeout, true);
      IF v_attempt >= v_attempts THEN
        RAISE EXCEPTION USING
          ERRCODE = 'lock_not_available',
          MESSAGE = format('partwise: could not create partition %I of %I.%I: another transaction held a conflicting lock on it through %s attempts',
                           p_child, p_schema, p_parent, v_attempts),
          HINT = 'A long transaction is altering or maintaining the table. Retry, or raise the setting partwise.lock_timeout.';
      END IF;
      PERFORM pg_sleep(least(0.05 * power(2, v_attempt), 1.0) * (0.5 + random()));
    END;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.create_partition(name, name, name, text, name, boolean, text[]) IS
  'Creates one LIST partition unless it exists; online it attaches under a short lock_timeout with retries.';
