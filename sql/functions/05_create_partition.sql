-- create_partition: the LIST partition of p_parent for bound p_bound (a
-- level-1 partition of the table for a key, when p_subpartition_column names
-- the bucket column; else a bucket leaf of a level-1 partition), created
-- unless it exists. Returns its name: the first candidate name of (p_base,
-- p_suffix) that is free or already this partition (see
-- 03_partition_names.sql), so a name some other relation of the schema holds
-- is never reused.
--
-- Locks, and why:
-- * an advisory transaction lock on each candidate name it considers, so that
--   two sessions racing for one name (the same partition, or partitions of
--   two tables whose names run into each other) do not both take it: the
--   second waits for the first to commit, then finds the name taken and uses
--   it (same partition) or moves on to the next candidate;
-- * online (the table is live): CREATE TABLE of a detached table, then
--   ATTACH PARTITION, which takes SHARE UPDATE EXCLUSIVE on the parent. Unlike
--   CREATE TABLE ... PARTITION OF (ACCESS EXCLUSIVE on the parent) it does not
--   block readers and writers of the parent. The lock is requested under a
--   short lock_timeout (setting partwise.lock_timeout, default 2s) and retried
--   with jittered backoff (partwise.lock_retries, default 5), so a long
--   transaction holding a conflicting lock yields a clear error, not a hang;
-- * offline (the tree is being built by a migration, nobody else uses it):
--   CREATE TABLE ... PARTITION OF, the faster form, with no subtransaction
--   (thousands of them in one provisioning transaction would overflow the
--   subtransaction cache and slow every session of the server).
DROP FUNCTION IF EXISTS @extschema@.create_partition(name, name, name, text, name, boolean, text[]);

CREATE OR REPLACE FUNCTION @extschema@.create_partition(
  p_schema name,
  p_parent name,
  p_base text,
  p_suffix text,
  p_bound text,
  p_subpartition_column name,
  p_online boolean,
  p_storage_options text[] DEFAULT NULL)
RETURNS name
LANGUAGE plpgsql
AS $$
DECLARE
  v_parent regclass := format('%I.%I', p_schema, p_parent)::regclass;
  v_key text := CASE WHEN p_subpartition_column IS NOT NULL THEN p_bound END;
  v_name name;
  v_existing regclass;
  v_overlap text;
BEGIN
  FOR v_attempt IN 0 .. 99 LOOP
    v_name := @extschema@.partition_name_candidate(p_base, p_suffix, v_attempt);
    PERFORM pg_advisory_xact_lock(hashtext('partwise.create_partition'), hashtext(p_schema || '.' || v_name));
    v_existing := to_regclass(format('%I.%I', p_schema, v_name));
    IF v_existing IS NOT NULL THEN
      IF @extschema@.partition_is(v_existing, v_parent, v_key) THEN
        RETURN v_name; -- made earlier (by an interrupted run, or by the session this one waited for)
      END IF;
      CONTINUE;
    END IF;
    IF @extschema@.relation_name_taken(p_schema, v_name) THEN
      CONTINUE; -- a type of that name
    END IF;

    IF NOT p_online THEN
      PERFORM @extschema@.create_partition_offline(v_parent, p_schema, v_name, p_bound, p_subpartition_column,
                                                   p_storage_options);
      RETURN v_name;
    END IF;
    BEGIN
      PERFORM @extschema@.create_partition_online(v_parent, p_schema, v_name, p_bound, p_subpartition_column,
                                                  p_storage_options);
      RETURN v_name;
    EXCEPTION
      WHEN duplicate_table OR duplicate_object OR unique_violation THEN
        -- Created meanwhile by a transaction whose commit this one's catalog
        -- cache had not caught up with: the next look sees it.
        v_existing := to_regclass(format('%I.%I', p_schema, v_name));
        IF v_existing IS NOT NULL AND @extschema@.partition_is(v_existing, v_parent, v_key) THEN
          RETURN v_name;
        END IF;
      WHEN invalid_object_definition THEN
        -- "would overlap": the partition exists under another of its
        -- candidate names (an earlier candidate was taken when it was made,
        -- and has been freed since).
        GET STACKED DIAGNOSTICS v_overlap = MESSAGE_TEXT;
        v_existing := @extschema@.existing_partition(p_schema, v_parent, p_base, p_suffix, v_key);
        IF v_existing IS NULL THEN
          RAISE EXCEPTION USING ERRCODE = 'invalid_object_definition', MESSAGE = v_overlap;
        END IF;
        RETURN (SELECT relname FROM pg_catalog.pg_class WHERE oid = v_existing);
    END;
  END LOOP;
  RAISE EXCEPTION USING
    ERRCODE = 'duplicate_table',
    MESSAGE = format('partwise: no free name for a partition of %I.%I: %I and its next 99 variants are all taken in schema %I',
                     p_schema, p_parent, @extschema@.partition_name_candidate(p_base, p_suffix, 0), p_schema),
    HINT = 'Drop or rename the relations that hold those names.';
END;
$$;
COMMENT ON FUNCTION @extschema@.create_partition(name, name, text, text, text, name, boolean, text[]) IS
  'Creates one LIST partition under the first free candidate name unless it exists; returns its name.';

-- take_owner_of(relation, schema, name): a relation Partwise made goes to the
-- role that owns the relation it serves (a partition to its parent's owner,
-- the partitioned table and the routing view to the original table's). A
-- relation belongs to whoever created it, and a DBA often works as a member
-- of the role that owns the application's tables: the tree would otherwise be
-- the DBA's own, which the owning role's other members could not alter (ALTER
-- TABLE on a parent recurses into partitions they do not own), and the serial
-- sequences the routing view takes over must have the view's owner. The
-- caller made the relation as a member of the owning role, so it may give it
-- away. Locks: ACCESS EXCLUSIVE on the new relation (nobody uses it yet).
CREATE OR REPLACE FUNCTION @extschema@.take_owner_of(p_relation regclass, p_schema name, p_name name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_owner regrole := (SELECT c.relowner::regrole FROM pg_catalog.pg_class c WHERE c.oid = p_relation);
BEGIN
  IF v_owner <> current_user::regrole THEN
    EXECUTE format('ALTER TABLE %I.%I OWNER TO %s', p_schema, p_name, v_owner);
  END IF;
END;
$$;

-- create_partition_offline: CREATE TABLE ... PARTITION OF, for a tree nobody
-- uses yet. Locks: ACCESS EXCLUSIVE on the parent, until commit.
CREATE OR REPLACE FUNCTION @extschema@.create_partition_offline(
  p_parent regclass, p_schema name, p_name name, p_bound text, p_subpartition_column name, p_storage_options text[])
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES IN (%L)%s',
                 p_schema, p_name, p_parent, p_bound,
                 @extschema@.partition_options(p_subpartition_column, p_storage_options));
  PERFORM @extschema@.take_owner_of(p_parent, p_schema, p_name);
END;
$$;

-- create_partition_online: a detached table, then ATTACH PARTITION under a
-- short lock_timeout, retried with backoff (see create_partition).
CREATE OR REPLACE FUNCTION @extschema@.create_partition_online(
  p_parent regclass, p_schema name, p_name name, p_bound text, p_subpartition_column name, p_storage_options text[])
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_lock_timeout text := coalesce(nullif(current_setting('partwise.lock_timeout', true), ''), '2s');
  v_attempts int := coalesce(nullif(current_setting('partwise.lock_retries', true), ''), '5')::int;
  v_previous_timeout text := current_setting('lock_timeout');
BEGIN
  FOR v_attempt IN 1 .. greatest(v_attempts, 1) LOOP
    BEGIN
      PERFORM set_config('lock_timeout', v_lock_timeout, true);
      -- LIKE copies columns, NOT NULL, CHECK constraints and defaults, which
      -- ATTACH requires; indexes, foreign keys and row triggers are added by
      -- ATTACH itself from the parent.
      -- In the parent's tablespace, as CREATE TABLE ... PARTITION OF places a
      -- partition (partwise key move sets a key's partition's tablespace),
      -- read once the lock ATTACH takes anyway is held: a move changing the
      -- parent's tablespace (ACCESS EXCLUSIVE) then has committed or waits.
      -- ONLY: ATTACH locks the parent alone; without it LOCK TABLE would lock
      -- every partition below (the whole tree for a new key: out of shared
      -- memory at 20,000 leaves, huge-tree.db.test.ts).
      EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', p_parent);
      EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                     ' INCLUDING GENERATED INCLUDING STORAGE)%s%s',
                     p_schema, p_name, p_parent,
                     @extschema@.partition_options(p_subpartition_column, p_storage_options),
                     (SELECT format(' TABLESPACE %I', t.spcname) FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = p_parent));
      PERFORM @extschema@.take_owner_of(p_parent, p_schema, p_name);
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES IN (%L)', p_parent, p_schema, p_name, p_bound);
      PERFORM set_config('lock_timeout', v_previous_timeout, true);
      RETURN;
    EXCEPTION WHEN lock_not_available THEN
      PERFORM set_config('lock_timeout', v_previous_timeout, true);
      IF v_attempt >= v_attempts THEN
        RAISE EXCEPTION USING
          ERRCODE = 'lock_not_available',
          MESSAGE = format('partwise: could not create partition %I of %s: another transaction held a conflicting lock on it through %s attempts',
                           p_name, p_parent, v_attempts),
          HINT = 'A long transaction is altering or maintaining the table. Retry, or raise the setting partwise.lock_timeout.';
      END IF;
      PERFORM pg_sleep(least(0.05 * power(2, v_attempt), 1.0) * (0.5 + random()));
    END;
  END LOOP;
END;
$$;

-- partition_options: the PARTITION BY clause of a level-1 partition, or the
-- storage parameters of a leaf (`name=value`, or `toast.name=value` for its
-- TOAST table, as pg_class.reloptions and filling_leaf_options list them).
-- Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.partition_options(p_subpartition_column name, p_storage_options text[])
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT CASE WHEN p_subpartition_column IS NOT NULL
              THEN format(' PARTITION BY LIST (%I)', p_subpartition_column)
              WHEN cardinality(p_storage_options) > 0
              THEN ' WITH (' || (SELECT string_agg(CASE WHEN n LIKE 'toast.%'
                                                        THEN format('toast.%I = %L', substr(n, 7), v)
                                                        ELSE format('%I = %L', n, v) END, ', ')
                                   FROM unnest(p_storage_options) o,
                                        LATERAL (SELECT split_part(o, '=', 1) AS n, substr(o, strpos(o, '=') + 1) AS v) p) || ')'
              ELSE '' END
$$;
