-- partwise key isolate / share: a pooled key (17_key_pool.sql) moved into a
-- level-1 partition of its own, and back.
--
-- The lock, and why it stays short. Attaching a level-1 partition while the
-- pool (the DEFAULT partition) exists takes ACCESS EXCLUSIVE on the pool and
-- every pool leaf, and scans each leaf for rows of the new key, except a leaf
-- whose validated CHECK constraint already proves it holds none. A closed
-- pool bucket (every ticket of its range handed out, the inserts that took
-- them ended) receives no new row, and routing refuses to change a row's key
-- (the key guard), so a closed leaf without a row of the key can carry
-- CHECK (key <> k), named for the key (pool_key_exclusion): added online,
-- leaf by leaf, before the switch (ACCESS EXCLUSIVE on that leaf for the
-- ADD ... NOT VALID, no scan; then VALIDATE under SHARE UPDATE EXCLUSIVE,
-- reads and writes go on), and dropped after it. The switch then reads, and
-- PostgreSQL scans, only the leaves that may hold the key: the open bucket
-- (and the one made ahead), and the closed ones that hold rows of it, each at
-- most the bucket limit. The key's rows themselves move inside the switch:
-- isolate is meant for a key that has just outgrown the pool's threshold.
--
-- Why one constraint per key, for the time of the isolation, and not a list
-- of the keys each closed leaf holds, kept: the planner proves each query on
-- the pool against its leaves' CHECK constraints (constraint exclusion of
-- partitions), and lists of a thousand keys on 100 leaves made planning a
-- query naming a pooled key 25 times slower (1 ms to 25-35 ms, PostgreSQL 15,
-- docs/key-locks/measure-isolate.sh).
--
-- Rows move through the partitioned table, deleted then inserted, so that
-- its row triggers (unique registries, the application's own) see what
-- PostgreSQL shows them for an UPDATE that moves a row to another partition.
-- The application's routed inserts are held for the switch (a lock on the
-- routing view alone, see key_routing_locks): an insert that had been given a
-- pool leaf for the key just before the switch would otherwise meet a pool
-- that may no longer hold it.

-- pool_key_exclusion(key): the name of the constraint that proves a closed
-- pool leaf holds no row of the key. Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.pool_key_exclusion(p_key_value text)
RETURNS name
LANGUAGE sql IMMUTABLE
AS $$ SELECT ('partwise_not_key_' || left(md5(p_key_value), 16))::name $$;

-- pool_bucket_exclude_key(config, bucket, key): the first half of proving a
-- closed pool bucket free of the key. Returns false when there is nothing to
-- prove (the bucket is open, its leaf holds rows of the key, or the proof is
-- made already), true once CHECK (key <> k) is added NOT VALID. Reads the
-- leaf for a row of the key first (ACCESS SHARE): a NOT VALID constraint
-- still checks updates, and would refuse the application's updates of the
-- key's rows. Then ACCESS EXCLUSIVE on that leaf for the ADD (no scan),
-- requested under the caller's lock_timeout. The engine waits for the routed
-- inserts under way before calling it (a ticket of a closed bucket may be in
-- flight until then).
CREATE OR REPLACE FUNCTION @extschema@.pool_bucket_exclude_key(p_config_id int, p_bucket_id int, p_key_value text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool := @extschema@.key_pool_for(p_config_id, 'isolate');
  v_bucket @extschema@.pool_bucket;
  v_name name := @extschema@.pool_key_exclusion(p_key_value);
  v_holds boolean;
BEGIN
  SELECT * INTO STRICT v_bucket FROM @extschema@.pool_bucket WHERE config_id = p_config_id AND bucket_id = p_bucket_id;
  IF v_bucket.bucket_id >= v_pool.current_bucket_id THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = v_bucket.leaf_partition AND conname = v_name) THEN
    RETURN NOT (SELECT convalidated FROM pg_catalog.pg_constraint
                 WHERE conrelid = v_bucket.leaf_partition AND conname = v_name);
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s WHERE %I = %L)', v_bucket.leaf_partition, v_config.key_column,
                 p_key_value)
    INTO v_holds;
  IF v_holds THEN
    RETURN false;
  END IF;
  EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I <> %L) NOT VALID',
                 v_bucket.leaf_partition, v_name, v_config.key_column, p_key_value);
  RETURN true;
END;
$$;

-- pool_bucket_validate_exclusion(config, bucket, key): the second half:
-- VALIDATE CONSTRAINT (SHARE UPDATE EXCLUSIVE on the leaf while it scans it;
-- reads and writes go on).
CREATE OR REPLACE FUNCTION @extschema@.pool_bucket_validate_exclusion(p_config_id int, p_bucket_id int, p_key_value text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_leaf regclass;
BEGIN
  SELECT leaf_partition INTO STRICT v_leaf FROM @extschema@.pool_bucket
   WHERE config_id = p_config_id AND bucket_id = p_bucket_id;
  EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', v_leaf, @extschema@.pool_key_exclusion(p_key_value));
END;
$$;

-- pool_bucket_drop_exclusion(config, bucket, key): drops the constraint once
-- the key left the pool (or an interrupted isolate's), so that it costs the
-- planner nothing. ACCESS EXCLUSIVE on that leaf, no scan, requested under
-- the caller's lock_timeout. Returns whether there was one.
CREATE OR REPLACE FUNCTION @extschema@.pool_bucket_drop_exclusion(p_config_id int, p_bucket_id int, p_key_value text)
RETURNS boolean
LANGUAGE plpgsql
AS $$
DECLARE
  v_leaf regclass;
  v_name name := @extschema@.pool_key_exclusion(p_key_value);
BEGIN
  SELECT leaf_partition INTO STRICT v_leaf FROM @extschema@.pool_bucket
   WHERE config_id = p_config_id AND bucket_id = p_bucket_id;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint WHERE conrelid = v_leaf AND conname = v_name) THEN
    RETURN false;
  END IF;
  EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', v_leaf, v_name);
  RETURN true;
END;
$$;

-- key_pool_for(config, action): the pool of a shared table, or a clear error.
CREATE OR REPLACE FUNCTION @extschema@.key_pool_for(p_config_id int, p_action text)
RETURNS @extschema@.key_pool
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool;
BEGIN
  PERFORM @extschema@.refuse_unfinished_uninstall(p_config_id, p_action);
  SELECT * INTO v_pool FROM @extschema@.key_pool WHERE config_id = p_config_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: %I.%I has no pool of small keys (its keys each have a partition); %s moves a key between the pool and a partition of its own',
                       v_config.table_schema, v_config.table_name, p_action);
  END IF;
  RETURN v_pool;
END;
$$;

-- key_routing_locks(config, parent mode): the locks of a switch, in this
-- order: ACCESS EXCLUSIVE on the routing view alone, then the partitioned
-- table alone in the mode given.
-- Why the view: a routed insert locks it (ROW EXCLUSIVE) before its trigger
-- reads the key's tracker row and takes a bucket, so a lock on it waits for
-- the routed inserts under way and holds new ones until commit, when they
-- read the tracker as the switch left it. Why alone: LOCK TABLE on a view
-- also locks every relation its query reads, and a partitioned one with all
-- its partitions, whatever ONLY says (lockcmds.c: LockViewRecurse ignores it
-- for a view and recurses into a partitioned table the view reads without
-- ONLY): on a tree of 20,000 leaves that is more than the default lock table
-- holds ("out of shared memory"). A change of owner to the owner it has
-- changes nothing and locks the view alone, as the migration's rollback
-- locks it; ACCESS EXCLUSIVE is its only mode, so reads through the view
-- wait for the switch too (the tightest lock that does not recurse, short of
-- a DDL on the view's trigger).
CREATE OR REPLACE FUNCTION @extschema@.key_routing_locks(p_config @extschema@.partition_config, p_parent_mode text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  EXECUTE format('ALTER VIEW %I.%I OWNER TO %I', p_config.table_schema, p_config.table_name,
                 (SELECT pg_catalog.pg_get_userbyid(c.relowner) FROM pg_catalog.pg_class c
                   WHERE c.oid = format('%I.%I', p_config.table_schema, p_config.table_name)::regclass));
  EXECUTE format('LOCK TABLE ONLY %I.%I IN %s MODE', p_config.table_schema, p_config.partitioned_table, p_parent_mode);
END;
$$;

-- key_insert_moving_rows(config, bucket expression): inserts the rows held in
-- pg_temp.partwise_moving_rows back through the partitioned table, the
-- bucket column set from p_bucket (an expression of s.partwise_row, the
-- row's position from 1). Stored generated columns are computed again;
-- identity values are kept.
CREATE OR REPLACE FUNCTION @extschema@.key_insert_moving_rows(p_config @extschema@.partition_config, p_bucket text)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_parent regclass := format('%I.%I', p_config.table_schema, p_config.partitioned_table)::regclass;
  v_columns text;
  v_values text;
BEGIN
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
         string_agg(CASE WHEN a.attname = p_config.bucket_column THEN p_bucket ELSE 's.' || quote_ident(a.attname) END,
                    ', ' ORDER BY a.attnum)
    INTO v_columns, v_values
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = v_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
  EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s'
                 ' FROM (SELECT m.*, row_number() OVER () AS partwise_row FROM pg_temp.partwise_moving_rows m) s',
                 v_parent, v_columns, v_values);
END;
$$;

-- key_isolate_switch(config, key): the switch of partwise key isolate, one
-- transaction: the key's rows leave the pool leaves that may hold them, its
-- level-1 partition is created and attached (PostgreSQL scans those same
-- leaves), buckets enough for its rows no fuller than the limit, its rows
-- inserted there, its tracker row no longer pooled. A key isolated already
-- returns zero buckets (nothing done).
-- Locks, requested under the caller's lock_timeout, until commit: ACCESS
-- EXCLUSIVE on the routing view alone (reads and inserts through it wait),
-- SHARE UPDATE EXCLUSIVE on the partitioned table alone (reads and writes
-- that name it or a partition go on),
-- ACCESS EXCLUSIVE on the pool and its leaves (every pooled key waits); the
-- key's tracker row. held_ms: from the locks granted to the end of the work.
CREATE OR REPLACE FUNCTION @extschema@.key_isolate_switch(
  p_config_id int, p_key_value text,
  OUT rows_moved bigint, OUT buckets int, OUT pool_leaves_read int, OUT level_one regclass, OUT held_ms numeric)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool := @extschema@.key_pool_for(p_config_id, 'isolate');
  v_tracker @extschema@.partition_tracker;
  v_limit bigint;
  v_candidates int[];
  v_level_one name;
  v_leaf name;
  v_locked_at timestamptz;
BEGIN
  -- The key's rows move after the locks: see require_read_committed.
  PERFORM @extschema@.require_read_committed('key_isolate_switch (partwise key isolate)');
  PERFORM @extschema@.key_routing_locks(v_config, 'SHARE UPDATE EXCLUSIVE');
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_pool.pool_partition);
  v_locked_at := clock_timestamp();
  v_tracker := @extschema@.key_tracker_for(p_config_id, p_key_value);
  rows_moved := 0;
  buckets := 0;
  pool_leaves_read := 0;
  level_one := v_tracker.level_one_partition;
  IF NOT v_tracker.in_pool THEN
    held_ms := 0;
    RETURN;
  END IF;
  IF v_tracker.state <> 'active' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: key %s of %I.%I is %s; isolate needs it active',
                       p_key_value, v_config.table_schema, v_config.table_name, v_tracker.state);
  END IF;
  v_limit := coalesce(v_tracker.bucket_limit, v_config.bucket_limit);
  SELECT coalesce(array_agg(b.bucket_id ORDER BY b.bucket_id), '{}') INTO v_candidates
    FROM @extschema@.pool_bucket b
   WHERE b.config_id = p_config_id
     AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c
                      WHERE c.conrelid = b.leaf_partition AND c.convalidated
                        AND c.conname = @extschema@.pool_key_exclusion(p_key_value));
  pool_leaves_read := cardinality(v_candidates);
  EXECUTE format('CREATE TEMP TABLE partwise_moving_rows (LIKE %I.%I) ON COMMIT DROP',
                 v_config.table_schema, v_config.partitioned_table);
  -- The key as a literal: pruned to the pool, then to the candidate leaves.
  EXECUTE format('WITH d AS (DELETE FROM %I.%I WHERE %I = %L AND %I = ANY ($1) RETURNING *)'
                 ' INSERT INTO pg_temp.partwise_moving_rows SELECT * FROM d',
                 v_config.table_schema, v_config.partitioned_table, v_config.key_column, p_key_value,
                 v_config.bucket_column)
    USING v_candidates;
  GET DIAGNOSTICS rows_moved = ROW_COUNT;
  v_level_one := @extschema@.create_partition(v_config.table_schema, v_config.partitioned_table,
                                              v_config.name_stem || '_' || @extschema@.key_tag(p_key_value), '',
                                              p_key_value, v_config.bucket_column, true);
  level_one := format('%I.%I', v_config.table_schema, v_level_one)::regclass;
  PERFORM @extschema@.guard_level_one(p_config_id, level_one);
  buckets := greatest(1, ceil(rows_moved::numeric / v_limit))::int;
  DELETE FROM @extschema@.partition_bucket WHERE config_id = p_config_id AND key_value = p_key_value;
  FOR v_bucket IN 0 .. buckets - 1 LOOP
    v_leaf := @extschema@.create_partition(v_config.table_schema, v_level_one, v_level_one,
                                           '_' || v_config.bucket_column || '_' || v_bucket, v_bucket::text, NULL, true,
                                           v_config.leaf_options);
    INSERT INTO @extschema@.partition_bucket (config_id, key_value, bucket_id, leaf_partition, first_ticket, capacity)
    VALUES (p_config_id, p_key_value, v_bucket, format('%I.%I', v_config.table_schema, v_leaf)::regclass,
            v_bucket * v_limit + 1, v_limit);
  END LOOP;
  IF rows_moved > 0 THEN
    PERFORM @extschema@.key_insert_moving_rows(v_config, format('((s.partwise_row - 1) / %s)', v_limit));
  END IF;
  UPDATE @extschema@.partition_tracker t
     SET in_pool = false, level_one_partition = level_one, ticket_sequence = NULL,
         current_bucket_id = buckets - 1, current_leaf = b.leaf_partition, current_first_ticket = b.first_ticket,
         current_capacity = b.capacity, rows_assigned = rows_moved, last_updated = now()
    FROM @extschema@.partition_bucket b
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value
     AND b.config_id = p_config_id AND b.key_value = p_key_value AND b.bucket_id = buckets - 1;
  DELETE FROM @extschema@.maintenance_finding WHERE config_id = p_config_id AND key_value = p_key_value;
  EXECUTE 'DROP TABLE pg_temp.partwise_moving_rows';
  held_ms := round(extract(epoch FROM clock_timestamp() - v_locked_at)::numeric * 1000, 1);
END;
$$;
COMMENT ON FUNCTION @extschema@.key_isolate_switch(int, text) IS
  'Moves a pooled key into a level-1 partition of its own (partwise key isolate), in one transaction.';

-- key_share_switch(config, key): the switch of partwise key share, one
-- transaction: the key's rows leave its partition, which is detached and
-- dropped with its buckets and ticket counter; the key is pooled, and its
-- rows take the pool's next tickets (the buckets holding them, opened if
-- need be). A pooled key returns rows_moved NULL (nothing done).
-- Locks, requested under the caller's lock_timeout, until commit: ACCESS
-- EXCLUSIVE on the routing view alone; on the partitioned table (the plain
-- DETACH, the only form PostgreSQL allows beside a default partition: reads
-- and writes of the whole table wait), on the pool (not its leaves) and on
-- the key's partition and leaves; the key's tracker row.
CREATE OR REPLACE FUNCTION @extschema@.key_share_switch(
  p_config_id int, p_key_value text, OUT rows_moved bigint, OUT leaves_dropped int, OUT held_ms numeric)
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_pool @extschema@.key_pool := @extschema@.key_pool_for(p_config_id, 'share');
  v_tracker @extschema@.partition_tracker;
  v_first bigint;
  v_locked_at timestamptz;
BEGIN
  -- The key's rows move after the locks, and its partition is dropped: see
  -- require_read_committed.
  PERFORM @extschema@.require_read_committed('key_share_switch (partwise key share)');
  PERFORM @extschema@.key_routing_locks(v_config, 'ACCESS EXCLUSIVE');
  EXECUTE format('LOCK TABLE ONLY %s IN ACCESS EXCLUSIVE MODE', v_pool.pool_partition);
  v_tracker := @extschema@.key_tracker_for(p_config_id, p_key_value);
  IF v_tracker.in_pool THEN
    RETURN;
  END IF;
  IF v_tracker.state <> 'active' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: key %s of %I.%I is %s; share needs it active',
                       p_key_value, v_config.table_schema, v_config.table_name, v_tracker.state);
  END IF;
  EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_tracker.level_one_partition);
  v_locked_at := clock_timestamp();
  EXECUTE format('CREATE TEMP TABLE partwise_moving_rows (LIKE %I.%I) ON COMMIT DROP',
                 v_config.table_schema, v_config.partitioned_table);
  EXECUTE format('WITH d AS (DELETE FROM %I.%I WHERE %I = %L RETURNING *)'
                 ' INSERT INTO pg_temp.partwise_moving_rows SELECT * FROM d',
                 v_config.table_schema, v_config.partitioned_table, v_config.key_column, p_key_value);
  GET DIAGNOSTICS rows_moved = ROW_COUNT;
  SELECT count(*) INTO leaves_dropped FROM @extschema@.partition_bucket
   WHERE config_id = p_config_id AND key_value = p_key_value;
  EXECUTE format('ALTER TABLE %I.%I DETACH PARTITION %s',
                 v_config.table_schema, v_config.partitioned_table, v_tracker.level_one_partition);
  EXECUTE format('DROP TABLE %s', v_tracker.level_one_partition);
  IF v_tracker.ticket_sequence IS NOT NULL THEN
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_tracker.ticket_sequence);
  END IF;
  DELETE FROM @extschema@.partition_bucket WHERE config_id = p_config_id AND key_value = p_key_value;
  DELETE FROM @extschema@.maintenance_finding WHERE config_id = p_config_id AND key_value = p_key_value;
  UPDATE @extschema@.partition_tracker
     SET in_pool = true, level_one_partition = v_pool.pool_partition, ticket_sequence = NULL,
         current_bucket_id = NULL, current_leaf = NULL, current_first_ticket = NULL, current_capacity = NULL,
         rows_assigned = 0, last_updated = now()
   WHERE config_id = p_config_id AND key_value = p_key_value;
  IF rows_moved > 0 THEN
    -- Tickets for the rows, as routing hands them out; no routed insert takes
    -- one meanwhile (the view is locked).
    v_first := nextval(v_pool.ticket_sequence);
    IF rows_moved > 1 THEN
      PERFORM pg_catalog.setval(v_pool.ticket_sequence, v_first + rows_moved - 1, true);
    END IF;
    PERFORM @extschema@.open_pool_buckets_through(p_config_id, v_first + rows_moved - 1);
    PERFORM @extschema@.key_insert_moving_rows(v_config, format(
      '(SELECT b.bucket_id FROM @extschema@.pool_bucket b WHERE b.config_id = %s AND b.first_ticket <= %s + s.partwise_row - 1'
      ' ORDER BY b.first_ticket DESC LIMIT 1)', p_config_id, v_first));
  END IF;
  EXECUTE 'DROP TABLE pg_temp.partwise_moving_rows';
  held_ms := round(extract(epoch FROM clock_timestamp() - v_locked_at)::numeric * 1000, 1);
END;
$$;
COMMENT ON FUNCTION @extschema@.key_share_switch(int, text) IS
  'Moves a key with a partition of its own into the pool of small keys (partwise key share), in one transaction.';
