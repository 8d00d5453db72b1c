-- The pool of a table whose small keys share (placement 'shared', see
-- migrations/0009_key_pool.sql): the DEFAULT level-1 partition, LIST-
-- partitioned by the bucket column, whose buckets all pooled keys fill from
-- one ticket sequence. A new key of such a table gets a tracker row marked
-- in_pool and no partition of its own: its first row waits for no DDL.
--
-- PostgreSQL facts this relies on (electron/install/key-pool.db.test.ts
-- checks them on every version):
-- * a row whose key has no level-1 partition goes to the DEFAULT one, and
--   `key = k` prunes to it (to all its leaves, the bucket being unknown);
-- * creating or attaching a level-1 partition while a DEFAULT one exists
--   scans every pool leaf under ACCESS EXCLUSIVE (to prove none holds the new
--   key), and fails when one does; this is why routing never creates a
--   level-1 partition for a key of a shared table;
-- * DETACH PARTITION ... CONCURRENTLY is refused while a DEFAULT partition
--   exists (14 and later): a key of such a table is detached with the plain
--   form, ACCESS EXCLUSIVE on the partitioned table and on the pool.

-- create_key_pool(config, threshold): the pool of a table and placement
-- 'shared': a partitioned table attached as the DEFAULT partition, with
-- bucket 0, and its ticket sequence. Shared by share_small_keys (a routed
-- table, checked and locked there) and by a migration that places small keys
-- in the pool from the start (19_pool_migration.sql), whose tree nobody
-- uses yet. Locks: SHARE UPDATE EXCLUSIVE on the partitioned table (ATTACH
-- PARTITION); ACCESS EXCLUSIVE on the new, empty pool.
CREATE OR REPLACE FUNCTION @extschema@.create_key_pool(p_config_id int, p_threshold bigint)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parent regclass := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  v_pool name;
  v_leaf name;
  v_sequence name := 'pool_ticket_' || p_config_id;
  v_default regclass;
  v_owner regrole;
BEGIN
  IF p_threshold IS NULL OR p_threshold <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: the threshold of shared placement must be a positive number of rows, got %s',
                       coalesce(p_threshold::text, 'NULL'));
  END IF;
  SELECT i.inhrelid::regclass INTO v_default FROM pg_catalog.pg_inherits i
    JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = v_parent AND pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT';
  IF v_default IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: %s already has a default partition, %s, which Partwise did not make', v_parent, v_default);
  END IF;
  FOR v_attempt IN 0 .. 99 LOOP
    v_pool := @extschema@.partition_name_candidate(v_config.name_stem || '_shared', '', v_attempt);
    PERFORM pg_advisory_xact_lock(hashtext('partwise.create_partition'),
                                  hashtext(v_config.table_schema || '.' || v_pool));
    EXIT WHEN NOT @extschema@.relation_name_taken(v_config.table_schema, v_pool);
    v_pool := NULL;
  END LOOP;
  IF v_pool IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'duplicate_table',
      MESSAGE = format('partwise: no free name for the pool of %s: %I and its next 99 variants are all taken',
                       v_parent, v_config.name_stem || '_shared');
  END IF;
  -- Detached first, then attached: ATTACH ... DEFAULT takes SHARE UPDATE
  -- EXCLUSIVE on the parent, where CREATE TABLE ... PARTITION OF would take
  -- ACCESS EXCLUSIVE (and block every reader of the table meanwhile).
  EXECUTE format('CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS'
                 ' INCLUDING GENERATED INCLUDING STORAGE) PARTITION BY LIST (%I)%s',
                 v_config.table_schema, v_pool, v_parent, v_config.bucket_column,
                 (SELECT format(' TABLESPACE %I', t.spcname) FROM pg_catalog.pg_class c
                    JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace WHERE c.oid = v_parent));
  EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I DEFAULT', v_parent, v_config.table_schema, v_pool);
  v_leaf := @extschema@.create_partition(v_config.table_schema, v_pool, v_pool, '_' || v_config.bucket_column || '_0',
                                         '0', NULL, true, v_config.leaf_options);
  -- On the leaf, not the pool (see guard_level_one).
  PERFORM @extschema@.guard_level_one(p_config_id, format('%I.%I', v_config.table_schema, v_leaf)::regclass);
  EXECUTE format('CREATE SEQUENCE @extschema@.%I AS bigint START WITH 1 MINVALUE 1', v_sequence);
  -- The pool is the table's, as its other partitions (take_owner_of), when a
  -- member of the owning role makes it. Routing takes the pool's tickets as
  -- the role that installed it (take_bucket_<id> is SECURITY DEFINER): that
  -- role or any other member of the owning role, so the counter is granted
  -- to the owning role. Granted, not given: a new owner would need CREATE on
  -- Partwise's schema, which the table's owner may not have.
  SELECT c.relowner::regrole INTO v_owner FROM pg_catalog.pg_class c WHERE c.oid = v_parent;
  IF v_owner <> current_user::regrole THEN
    EXECUTE format('ALTER TABLE %I.%I OWNER TO %s', v_config.table_schema, v_pool, v_owner);
    EXECUTE format('ALTER TABLE %I.%I OWNER TO %s', v_config.table_schema, v_leaf, v_owner);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE @extschema@.%I TO %s', v_sequence, v_owner);
  END IF;
  INSERT INTO @extschema@.key_pool (config_id, pool_partition, ticket_sequence, current_bucket_id, current_leaf,
                                    current_first_ticket, current_capacity, rows_assigned)
  VALUES (p_config_id, format('%I.%I', v_config.table_schema, v_pool)::regclass,
          format('@extschema@.%I', v_sequence)::regclass, 0,
          format('%I.%I', v_config.table_schema, v_leaf)::regclass, 1, v_config.bucket_limit, 0);
  INSERT INTO @extschema@.pool_bucket (config_id, bucket_id, leaf_partition, first_ticket, capacity)
  VALUES (p_config_id, 0, format('%I.%I', v_config.table_schema, v_leaf)::regclass, 1, v_config.bucket_limit);
  UPDATE @extschema@.partition_config
     SET placement = 'shared', shared_threshold = p_threshold, updated_at = now()
   WHERE config_id = p_config_id
  RETURNING * INTO v_config;
  RETURN v_config;
END;
$$;
COMMENT ON FUNCTION @extschema@.create_key_pool(int, bigint) IS
  'Creates the pool of small keys of a table (its DEFAULT partition, bucket 0, ticket sequence); placement becomes shared.';

-- share_small_keys(config, threshold): switch a routed table to placement
-- 'shared': create its pool (create_key_pool). Keys that have a partition
-- keep it; keys seen from now on are pooled. Run again, it changes the
-- threshold only.
-- Locks: SHARE UPDATE EXCLUSIVE on the partitioned table (ATTACH PARTITION;
-- readers and writers go on), requested under partwise.lock_timeout; ACCESS
-- EXCLUSIVE on the new, empty pool.
CREATE OR REPLACE FUNCTION @extschema@.share_small_keys(p_config_id int, p_threshold bigint)
RETURNS @extschema@.partition_config
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parent regclass;
  v_previous_timeout text := current_setting('lock_timeout');
BEGIN
  IF p_threshold IS NULL OR p_threshold <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
      MESSAGE = format('partwise: the threshold of shared placement must be a positive number of rows, got %s',
                       coalesce(p_threshold::text, 'NULL'));
  END IF;
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'sharing small keys');
  IF v_config.mode <> 'routing' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: %I.%I is not routing yet; small keys can share once its migration has swapped',
                       v_config.table_schema, v_config.table_name);
  END IF;
  -- Verification, catch-up and rollback of a migration started without
  -- shared placement read the keys as level-1 partitions each: the table's
  -- backup must be gone first. (A migration planned with shared placement
  -- makes the pool itself, before its copy.)
  IF EXISTS (SELECT 1 FROM @extschema@.migration_target m
              WHERE m.table_schema = v_config.table_schema AND m.table_name = v_config.table_name
                AND m.status NOT IN ('finalized', 'rolled_back')) THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: the migration of %I.%I has not been finalized; small keys can share after it',
                       v_config.table_schema, v_config.table_name),
      HINT = 'Finalize (or roll back) the migration first.';
  END IF;
  IF EXISTS (SELECT 1 FROM @extschema@.key_pool WHERE config_id = p_config_id) THEN
    UPDATE @extschema@.partition_config SET shared_threshold = p_threshold, updated_at = now()
     WHERE config_id = p_config_id RETURNING * INTO v_config;
    RETURN v_config;
  END IF;
  PERFORM set_config('lock_timeout', coalesce(nullif(current_setting('partwise.lock_timeout', true), ''), '2s'), true);
  v_parent := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  -- ONLY: the parent alone, as ATTACH locks it (not every partition below).
  EXECUTE format('LOCK TABLE ONLY %s IN SHARE UPDATE EXCLUSIVE MODE', v_parent);
  PERFORM set_config('lock_timeout', v_previous_timeout, true);
  RETURN @extschema@.create_key_pool(p_config_id, p_threshold);
END;
$$;
COMMENT ON FUNCTION @extschema@.share_small_keys(int, bigint) IS
  'Creates the pool of a routed table: keys seen from now on share its buckets instead of a partition each.';

-- pool_key(config, key): the tracker row of a new key of a shared table,
-- pooled: no partition is created. Called by ensure_key under its per-key
-- advisory lock. Locks: none beyond the row it inserts.
CREATE OR REPLACE FUNCTION @extschema@.pool_key(p_config_id int, p_key_value text)
RETURNS @extschema@.partition_tracker
LANGUAGE plpgsql
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
BEGIN
  INSERT INTO @extschema@.partition_tracker AS t
         (config_id, key_value, level_one_partition, in_pool, rows_assigned)
  SELECT p_config_id, p_key_value, p.pool_partition, true, 0
    FROM @extschema@.key_pool p WHERE p.config_id = p_config_id
  -- See ensure_key: a key committed after this transaction's snapshot.
  ON CONFLICT (config_id, key_value) DO NOTHING
  RETURNING * INTO v_tracker;
  RETURN v_tracker;
END;
$$;

-- assign_pool_bucket(config): the pool bucket and leaf for one new row of a
-- pooled key. As assign_bucket for a key: one ticket from the pool's
-- sequence (no lock held), the bucket whose range holds it; the row whose
-- ticket fills nine tenths of the current bucket creates the next one ahead.
CREATE OR REPLACE FUNCTION @extschema@.assign_pool_bucket(p_config_id int, OUT bucket_id int, OUT leaf regclass)
LANGUAGE plpgsql
AS $$
DECLARE
  v_pool @extschema@.key_pool;
  v_ticket bigint;
BEGIN
  SELECT * INTO STRICT v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id;
  v_ticket := nextval(v_pool.ticket_sequence);
  IF v_ticket >= v_pool.current_first_ticket AND v_ticket < v_pool.current_first_ticket + v_pool.current_capacity THEN
    bucket_id := v_pool.current_bucket_id;
    leaf := v_pool.current_leaf;
    IF v_pool.current_capacity >= 100
       AND v_ticket - v_pool.current_first_ticket + 1 = v_pool.current_capacity * 9 / 10 THEN
      PERFORM @extschema@.open_pool_bucket_ahead(v_pool);
    END IF;
    RETURN;
  END IF;
  IF v_ticket >= v_pool.current_first_ticket + v_pool.current_capacity THEN
    PERFORM @extschema@.open_pool_buckets_through(p_config_id, v_ticket);
  END IF;
  SELECT b.bucket_id, b.leaf_partition INTO bucket_id, leaf
    FROM @extschema@.pool_bucket b
   WHERE b.config_id = p_config_id AND b.first_ticket <= v_ticket
   ORDER BY b.first_ticket DESC
   LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partwise: no pool bucket holds ticket %; run maintenance to repair the pool', v_ticket;
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.assign_pool_bucket(int) IS
  'Pool bucket and leaf for the next row of a pooled key.';

-- ensure_pool_bucket: the leaf of one pool bucket, with its key guard,
-- created with the given ticket range unless it exists. Locks: those of
-- create_partition (SHARE UPDATE EXCLUSIVE on the pool only) and
-- guard_level_one (the new leaf).
CREATE OR REPLACE FUNCTION @extschema@.ensure_pool_bucket(
  p_config_id int, p_bucket_id int, p_first_ticket bigint, p_capacity bigint)
RETURNS @extschema@.pool_bucket
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_bucket @extschema@.pool_bucket;
  v_pool_name name;
  v_leaf name;
BEGIN
  SELECT * INTO v_bucket FROM @extschema@.pool_bucket b WHERE b.config_id = p_config_id AND b.bucket_id = p_bucket_id;
  IF FOUND THEN
    RETURN v_bucket;
  END IF;
  SELECT c.relname INTO STRICT v_pool_name FROM @extschema@.key_pool p JOIN pg_catalog.pg_class c ON c.oid = p.pool_partition
   WHERE p.config_id = p_config_id;
  v_leaf := @extschema@.create_partition(v_config.table_schema, v_pool_name, v_pool_name,
                                         '_' || v_config.bucket_column || '_' || p_bucket_id,
                                         p_bucket_id::text, NULL, true, v_config.leaf_options);
  PERFORM @extschema@.guard_level_one(p_config_id, format('%I.%I', v_config.table_schema, v_leaf)::regclass);
  INSERT INTO @extschema@.pool_bucket (config_id, bucket_id, leaf_partition, first_ticket, capacity)
  VALUES (p_config_id, p_bucket_id, format('%I.%I', v_config.table_schema, v_leaf)::regclass, p_first_ticket, p_capacity)
  ON CONFLICT (config_id, bucket_id) DO NOTHING;
  SELECT * INTO STRICT v_bucket FROM @extschema@.pool_bucket b WHERE b.config_id = p_config_id AND b.bucket_id = p_bucket_id;
  RETURN v_bucket;
END;
$$;

-- open_pool_buckets_through: make the pool's current bucket the one holding
-- p_ticket, opening every bucket up to it. Locks the key_pool row (FOR
-- UPDATE) until the end of the transaction: concurrent rows past the old
-- bucket wait for it, then find the bucket open. New buckets take the
-- table's limit in force.
CREATE OR REPLACE FUNCTION @extschema@.open_pool_buckets_through(p_config_id int, p_ticket bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_pool @extschema@.key_pool;
  v_limit bigint;
  v_bucket @extschema@.pool_bucket;
BEGIN
  SELECT * INTO STRICT v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id FOR UPDATE;
  IF p_ticket < v_pool.current_first_ticket + v_pool.current_capacity THEN
    RETURN; -- opened by the transaction waited for
  END IF;
  SELECT c.bucket_limit INTO STRICT v_limit FROM @extschema@.partition_config c WHERE c.config_id = p_config_id;
  WHILE p_ticket >= v_pool.current_first_ticket + v_pool.current_capacity LOOP
    v_bucket := @extschema@.ensure_pool_bucket(p_config_id, v_pool.current_bucket_id + 1,
                                               v_pool.current_first_ticket + v_pool.current_capacity, v_limit);
    IF v_bucket.capacity <> v_limit THEN
      -- Made ahead under an earlier limit: empty until it opens.
      UPDATE @extschema@.pool_bucket b SET capacity = v_limit
       WHERE b.config_id = p_config_id AND b.bucket_id = v_bucket.bucket_id
      RETURNING * INTO v_bucket;
    END IF;
    v_pool.current_bucket_id := v_bucket.bucket_id;
    v_pool.current_leaf := v_bucket.leaf_partition;
    v_pool.current_first_ticket := v_bucket.first_ticket;
    v_pool.current_capacity := v_bucket.capacity;
  END LOOP;
  UPDATE @extschema@.key_pool
     SET current_bucket_id = v_pool.current_bucket_id,
         current_leaf = v_pool.current_leaf,
         current_first_ticket = v_pool.current_first_ticket,
         current_capacity = v_pool.current_capacity,
         rows_assigned = greatest(rows_assigned, p_ticket),
         last_updated = now()
   WHERE config_id = p_config_id;
END;
$$;

-- open_pool_bucket_ahead: the pool's next bucket before the current one is
-- full, as open_bucket_ahead does for a key (same conditions: only from a
-- statement that is its own transaction; the key_pool row is locked first,
-- skipped when another session holds it; a failure never fails the insert).
CREATE OR REPLACE FUNCTION @extschema@.open_pool_bucket_ahead(p_pool @extschema@.key_pool)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_limit bigint;
BEGIN
  IF statement_timestamp() <> transaction_timestamp()
     OR EXISTS (SELECT 1 FROM @extschema@.pool_bucket b
                 WHERE b.config_id = p_pool.config_id AND b.bucket_id = p_pool.current_bucket_id + 1) THEN
    RETURN;
  END IF;
  BEGIN
    PERFORM 1 FROM @extschema@.key_pool p
     WHERE p.config_id = p_pool.config_id AND p.current_bucket_id = p_pool.current_bucket_id
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      RETURN;
    END IF;
    SELECT c.bucket_limit INTO STRICT v_limit FROM @extschema@.partition_config c WHERE c.config_id = p_pool.config_id;
    PERFORM @extschema@.ensure_pool_bucket(p_pool.config_id, p_pool.current_bucket_id + 1,
                                           p_pool.current_first_ticket + p_pool.current_capacity, v_limit);
  EXCEPTION WHEN OTHERS THEN
    NULL; -- the row that needs the bucket creates it, or reports why it cannot
  END;
END;
$$;

-- maintain_pool: check the pool of a shared table, in the caller's
-- transaction, as maintain_key checks a key: over-full leaves (rows written
-- around the routing view), untracked leaves, ticket drift of the current
-- bucket (repaired), and the next bucket created ahead when the current one
-- is p_ahead full; and, by key (key_value), the pooled keys that hold the
-- table's threshold of rows or more (outgrown: a partition of their own would
-- suit them). Locks: ACCESS SHARE on each pool leaf and its indexes while
-- counting (and reading the keys' rows); those of ensure_pool_bucket; the
-- key_pool row.
-- One transaction for the whole pool: a pool of thousands of buckets holds
-- more leaves (each with its indexes) than the lock table, so maintain and
-- the engine check one batch of leaves per transaction instead
-- (pool_leaf_batches, maintain_pool_leaves, pool_key_rows), then the rest
-- (maintain_pool_state); this is the same, for a pool that fits.
DROP FUNCTION IF EXISTS @extschema@.maintain_pool(int, numeric);
CREATE OR REPLACE FUNCTION @extschema@.maintain_pool(p_config_id int, p_ahead numeric DEFAULT 0.8)
RETURNS TABLE (key_value text, kind text, bucket_id int, leaf_partition regclass, row_count bigint, capacity bigint,
               detail text)
LANGUAGE plpgsql
AS $$
DECLARE
  v_buckets int[];
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'maintenance');
  SELECT coalesce(array_agg(b.bucket_id), '{}') INTO v_buckets FROM @extschema@.pool_bucket b WHERE b.config_id = p_config_id;
  RETURN QUERY SELECT * FROM @extschema@.maintain_pool_leaves(p_config_id, v_buckets);
  RETURN QUERY SELECT * FROM @extschema@.maintain_pool_state(
    p_config_id, p_ahead,
    (SELECT coalesce(jsonb_object_agg(r.key_value, r.row_count), '{}') FROM @extschema@.pool_key_rows(p_config_id, v_buckets) r));
END;
$$;
COMMENT ON FUNCTION @extschema@.maintain_pool(int, numeric) IS
  'Checks the pool of a shared table: over-full and untracked leaves, ticket drift; creates the next bucket ahead.';

-- pool_leaf_batches(config): the pool's buckets in groups whose leaves, each
-- with its indexes, fit uninstall_lock_budget (an eighth of the lock table):
-- what one transaction of maintenance reads. No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.pool_leaf_batches(p_config_id int)
RETURNS SETOF int[]
LANGUAGE sql
STABLE
AS $$
  SELECT array_agg(g.bucket_id ORDER BY g.bucket_id)
    FROM (SELECT b.bucket_id,
                 (row_number() OVER (ORDER BY b.bucket_id) - 1)
                   / greatest(@extschema@.uninstall_lock_budget()
                              / (1 + (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.parent))::int, 1) AS batch
            FROM @extschema@.pool_bucket b,
                 LATERAL (SELECT format('%I.%I', f.table_schema, f.partitioned_table)::regclass AS parent
                            FROM @extschema@.partition_config f WHERE f.config_id = b.config_id) c
           WHERE b.config_id = p_config_id) g
   GROUP BY g.batch
   ORDER BY g.batch
$$;
COMMENT ON FUNCTION @extschema@.pool_leaf_batches(int) IS
  'The buckets of a pool in groups whose leaves one transaction of maintenance may lock.';

-- maintain_pool_leaves(config, buckets): the leaves of those pool buckets:
-- missing, or holding more rows than their capacity. Locks: ACCESS SHARE on
-- each of those leaves and its indexes while counting.
CREATE OR REPLACE FUNCTION @extschema@.maintain_pool_leaves(p_config_id int, p_buckets int[])
RETURNS TABLE (key_value text, kind text, bucket_id int, leaf_partition regclass, row_count bigint, capacity bigint,
               detail text)
LANGUAGE plpgsql
AS $$
DECLARE
  v_bucket @extschema@.pool_bucket;
  v_rows bigint;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'maintenance');
  FOR v_bucket IN SELECT * FROM @extschema@.pool_bucket b
                   WHERE b.config_id = p_config_id AND b.bucket_id = ANY (p_buckets) ORDER BY b.bucket_id LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_bucket.leaf_partition) THEN
      RETURN QUERY SELECT NULL::text, 'missing_leaf', v_bucket.bucket_id, v_bucket.leaf_partition, NULL::bigint,
                          v_bucket.capacity, 'the leaf partition of this pool bucket does not exist';
      CONTINUE;
    END IF;
    EXECUTE format('SELECT count(*) FROM %s', v_bucket.leaf_partition) INTO v_rows;
    IF v_rows > v_bucket.capacity THEN
      RETURN QUERY SELECT NULL::text, 'over_full', v_bucket.bucket_id, v_bucket.leaf_partition, v_rows, v_bucket.capacity,
                          format('%s rows in a pool bucket of %s', v_rows, v_bucket.capacity);
    END IF;
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.maintain_pool_leaves(int, int[]) IS
  'Checks a group of pool leaves: missing or over-full.';

-- pool_key_rows(config, buckets): the rows of each pooled key in the leaves
-- of those buckets (summed over the groups, they tell which keys outgrew the
-- pool). Nothing when the table has no threshold. Locks: ACCESS SHARE on
-- those leaves and their indexes (the buckets a literal, pruned when planned).
CREATE OR REPLACE FUNCTION @extschema@.pool_key_rows(p_config_id int, p_buckets int[])
RETURNS TABLE (key_value text, row_count bigint)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool;
  v_leaves int[];
BEGIN
  SELECT * INTO v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id;
  IF NOT FOUND OR v_config.shared_threshold IS NULL THEN
    RETURN;
  END IF;
  -- Leaves that exist (a missing one is a finding of maintain_pool_leaves).
  SELECT coalesce(array_agg(b.bucket_id), '{}') INTO v_leaves FROM @extschema@.pool_bucket b
   WHERE b.config_id = p_config_id AND b.bucket_id = ANY (p_buckets)
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = b.leaf_partition);
  RETURN QUERY EXECUTE format('SELECT %s, count(*) FROM %s p WHERE %I = ANY (%L::int[]) GROUP BY 1',
    @extschema@.key_text_sql_for(format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass,
                                 v_config.key_column, 'p.' || quote_ident(v_config.key_column)),
    v_pool.pool_partition, v_config.bucket_column, v_leaves);
END;
$$;
COMMENT ON FUNCTION @extschema@.pool_key_rows(int, int[]) IS
  'Rows of each pooled key in a group of pool leaves.';

-- maintain_pool_state(config, ahead, key rows): the rest of maintain_pool,
-- once its leaves were checked: untracked leaves, ticket drift of the current
-- bucket (repaired), the next bucket created ahead, and the pooled keys whose
-- rows (p_key_rows, {key: rows} summed over the leaves) reach the threshold.
-- Locks: the key_pool row; ACCESS SHARE on the current leaf while counting;
-- those of ensure_pool_bucket.
CREATE OR REPLACE FUNCTION @extschema@.maintain_pool_state(p_config_id int, p_ahead numeric, p_key_rows jsonb)
RETURNS TABLE (key_value text, kind text, bucket_id int, leaf_partition regclass, row_count bigint, capacity bigint,
               detail text)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool;
  v_bucket @extschema@.pool_bucket;
  v_live bigint;
  v_current_rows bigint := 0;
  v_untracked regclass;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, 'maintenance');
  SELECT * INTO v_pool FROM @extschema@.key_pool p WHERE p.config_id = p_config_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE oid = v_pool.current_leaf) THEN
    EXECUTE format('SELECT count(*) FROM %s', v_pool.current_leaf) INTO v_current_rows;
  END IF;
  FOR v_untracked IN
    SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
     WHERE i.inhparent = v_pool.pool_partition
       AND i.inhrelid NOT IN (SELECT b.leaf_partition FROM @extschema@.pool_bucket b WHERE b.config_id = p_config_id)
  LOOP
    RETURN QUERY SELECT NULL::text, 'untracked_leaf', NULL::int, v_untracked, NULL::bigint, NULL::bigint,
                        'a partition of the pool that no pool bucket names';
  END LOOP;
  v_live := greatest(v_pool.rows_assigned, pg_catalog.pg_sequence_last_value(v_pool.ticket_sequence), 0);
  IF v_current_rows > v_live - v_pool.current_first_ticket + 1 THEN
    RETURN QUERY SELECT NULL::text, 'tracker_drift', v_pool.current_bucket_id, v_pool.current_leaf, v_current_rows,
                        v_pool.current_capacity,
                        format('%s rows but %s pool tickets handed out; counter moved to %s', v_current_rows,
                               greatest(v_live - v_pool.current_first_ticket + 1, 0),
                               v_pool.current_first_ticket + v_current_rows - 1);
    v_live := v_pool.current_first_ticket + v_current_rows - 1;
    PERFORM pg_catalog.setval(v_pool.ticket_sequence, v_live, true);
  END IF;
  IF p_ahead IS NOT NULL
     AND v_live - v_pool.current_first_ticket + 1 >= p_ahead * v_pool.current_capacity
     AND NOT EXISTS (SELECT 1 FROM @extschema@.pool_bucket b
                      WHERE b.config_id = p_config_id AND b.bucket_id = v_pool.current_bucket_id + 1) THEN
    v_bucket := @extschema@.ensure_pool_bucket(p_config_id, v_pool.current_bucket_id + 1,
                                               v_pool.current_first_ticket + v_pool.current_capacity,
                                               v_config.bucket_limit);
    RETURN QUERY SELECT NULL::text, 'created_ahead', v_bucket.bucket_id, v_bucket.leaf_partition, 0::bigint,
                        v_bucket.capacity, 'next pool bucket created ahead of need';
  END IF;
  IF v_config.shared_threshold IS NOT NULL THEN
    RETURN QUERY
      SELECT r.key, 'outgrown', NULL::int, NULL::regclass, r.value::bigint, v_config.shared_threshold,
             format('%s rows in the pool, at or above the threshold of %s rows: give it a partition of its own with partwise key isolate --table %s --value %s',
                    r.value, v_config.shared_threshold, format('%I.%I', v_config.table_schema, v_config.table_name), r.key)
        FROM jsonb_each_text(coalesce(p_key_rows, '{}')) r
       WHERE r.value::bigint >= v_config.shared_threshold
       ORDER BY r.key;
  END IF;
  UPDATE @extschema@.key_pool SET rows_assigned = v_live, last_updated = now() WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.maintain_pool_state(int, numeric, jsonb) IS
  'The pool checks that need no leaf but the current one: untracked leaves, drift, the next bucket ahead, outgrown keys.';
