-- assign_bucket(config, key value): the bucket and leaf partition for one new
-- row of the key. This is the hot path of every routed insert.
--
-- Each row takes the next ticket of its key (nextval: no lock held, so writers of
-- one key never queue behind each other's transactions) and goes to the bucket
-- whose ticket range holds it. A bucket therefore never receives more rows than
-- its capacity, whatever the concurrency. Tickets of rolled-back inserts are not
-- reused, and deleted rows do not free room: "rows in a bucket" counts tickets
-- handed out, an upper bound of the rows it holds.
--
-- Only the first row past the end of the current bucket takes the key's tracker
-- row lock (open_buckets_through), until its transaction ends; rows of the
-- bucket that is filling meanwhile are not held up. That row finds the next
-- bucket's leaf already made, by the row that filled nine tenths of the
-- current bucket (open_bucket_ahead), so that the writers queued behind it wait for a row
-- update, not for a CREATE TABLE and an ATTACH PARTITION.
CREATE OR REPLACE FUNCTION @extschema@.assign_bucket(
  p_config_id int, p_key_value text, OUT bucket_id int, OUT leaf regclass)
LANGUAGE plpgsql
-- Routed inserts reach it through take_bucket_<config id> (see
-- install_routing), which runs with its owner's rights for one table only.
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
  v_ticket bigint;
BEGIN
  SELECT * INTO v_tracker FROM @extschema@.partition_tracker t
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value;
  IF NOT FOUND THEN
    v_tracker := @extschema@.ensure_key(p_config_id, p_key_value);
  END IF;
  -- A key detached, dropping or being attached (partwise key ...) takes no rows.
  IF v_tracker.state <> 'active' THEN
    PERFORM @extschema@.key_refused(p_config_id, p_key_value, v_tracker.state, v_tracker.level_one_partition);
  END IF;
  -- A pooled key takes the pool's next ticket (17_key_pool.sql).
  IF v_tracker.in_pool THEN
    SELECT a.bucket_id, a.leaf INTO bucket_id, leaf FROM @extschema@.assign_pool_bucket(p_config_id) a;
    RETURN;
  END IF;
  IF v_tracker.ticket_sequence IS NULL THEN
    v_tracker := @extschema@.ensure_ticket_sequence(p_config_id, p_key_value);
  END IF;
  v_ticket := nextval(v_tracker.ticket_sequence);
  IF v_ticket >= v_tracker.current_first_ticket
     AND v_ticket < v_tracker.current_first_ticket + v_tracker.current_capacity THEN
    bucket_id := v_tracker.current_bucket_id;
    leaf := v_tracker.current_leaf;
    -- The one row whose ticket fills nine tenths of the bucket creates the
    -- next bucket ahead of need (unless maintenance did): see open_bucket_ahead.
    -- Not for buckets of under 100 rows, whose lead of a tenth is too short to
    -- spare anyone the wait.
    IF v_tracker.current_capacity >= 100
       AND v_ticket - v_tracker.current_first_ticket + 1 = v_tracker.current_capacity * 9 / 10 THEN
      PERFORM @extschema@.open_bucket_ahead(p_config_id, p_key_value, v_tracker);
    END IF;
    RETURN;
  END IF;
  SELECT b.bucket_id, b.leaf INTO bucket_id, leaf FROM @extschema@.bucket_for_ticket(p_config_id, p_key_value, v_ticket) b;
END;
$$;
COMMENT ON FUNCTION @extschema@.assign_bucket(int, text) IS
  'Bucket and leaf for the next row of a key; the hot path of routed inserts.';
REVOKE EXECUTE ON FUNCTION @extschema@.assign_bucket(int, text) FROM PUBLIC;

-- assign_buckets(config, key value, n): the buckets of n new rows of one
-- key, as n calls of assign_bucket give them, for the catch-up's replay,
-- which places thousands of rows a batch: the tracker is read once and the
-- tickets are taken in one statement. Called once per row, assign_bucket was
-- the largest single part of a replay batch (about 37 us a row, a quarter of
-- the replay's time in the load bench at 1M rows, pg_stat_statements). As in
-- assign_bucket, the ticket that fills nine tenths of the current bucket
-- opens the next one ahead, and a ticket past the current bucket goes
-- through bucket_for_ticket, which opens buckets up to it. Tickets are
-- returned in the order they were taken.
CREATE OR REPLACE FUNCTION @extschema@.assign_buckets(p_config_id int, p_key_value text, p_rows int)
RETURNS int[]
LANGUAGE plpgsql
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
  v_tickets bigint[];
  v_buckets int[];
BEGIN
  IF p_rows < 1 THEN
    RETURN '{}';
  END IF;
  SELECT * INTO v_tracker FROM @extschema@.partition_tracker t
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value;
  IF NOT FOUND THEN
    v_tracker := @extschema@.ensure_key(p_config_id, p_key_value);
  END IF;
  IF v_tracker.state <> 'active' THEN
    PERFORM @extschema@.key_refused(p_config_id, p_key_value, v_tracker.state, v_tracker.level_one_partition);
  END IF;
  IF v_tracker.in_pool THEN
    -- A row at a time: a function scan that does not depend on the row is
    -- run once and its result reused, which would give every row one ticket.
    v_buckets := array_fill(NULL::int, ARRAY[p_rows]);
    FOR i IN 1..p_rows LOOP
      v_buckets[i] := (SELECT a.bucket_id FROM @extschema@.assign_pool_bucket(p_config_id) a);
    END LOOP;
    RETURN v_buckets;
  END IF;
  IF v_tracker.ticket_sequence IS NULL THEN
    v_tracker := @extschema@.ensure_ticket_sequence(p_config_id, p_key_value);
  END IF;
  v_tickets := ARRAY(SELECT nextval(v_tracker.ticket_sequence) FROM generate_series(1, p_rows));
  IF v_tracker.current_capacity >= 100
     AND v_tracker.current_first_ticket + v_tracker.current_capacity * 9 / 10 - 1 = ANY (v_tickets) THEN
    PERFORM @extschema@.open_bucket_ahead(p_config_id, p_key_value, v_tracker);
  END IF;
  SELECT array_agg(CASE WHEN t.ticket >= v_tracker.current_first_ticket
                             AND t.ticket < v_tracker.current_first_ticket + v_tracker.current_capacity
                        THEN v_tracker.current_bucket_id
                        ELSE (SELECT b.bucket_id FROM @extschema@.bucket_for_ticket(p_config_id, p_key_value, t.ticket) b)
                   END ORDER BY t.ord)
    INTO v_buckets
    FROM unnest(v_tickets) WITH ORDINALITY t(ticket, ord);
  RETURN v_buckets;
END;
$$;
COMMENT ON FUNCTION @extschema@.assign_buckets(int, text, int) IS
  'Buckets for the next n rows of a key, as n calls of assign_bucket give them; for the catch-up''s replay.';
REVOKE EXECUTE ON FUNCTION @extschema@.assign_buckets(int, text, int) FROM PUBLIC;

-- bucket_for_ticket: the bucket of a ticket that is not in the key's current
-- bucket as this transaction saw it: either an earlier bucket (the ticket was
-- taken before another session opened the next one) or one past the current
-- bucket, which is then opened.
CREATE OR REPLACE FUNCTION @extschema@.bucket_for_ticket(
  p_config_id int, p_key_value text, p_ticket bigint, OUT bucket_id int, OUT leaf regclass)
LANGUAGE plpgsql
AS $$
DECLARE
  v_end bigint;
BEGIN
  SELECT t.current_first_ticket + t.current_capacity INTO STRICT v_end FROM @extschema@.partition_tracker t
   WHERE t.config_id = p_config_id AND t.key_value = p_key_value;
  IF p_ticket >= v_end THEN
    PERFORM @extschema@.open_buckets_through(p_config_id, p_key_value, p_ticket);
  END IF;
  SELECT b.bucket_id, b.leaf_partition INTO bucket_id, leaf
    FROM @extschema@.partition_bucket b
   WHERE b.config_id = p_config_id AND b.key_value = p_key_value AND b.first_ticket <= p_ticket
   ORDER BY b.first_ticket DESC
   LIMIT 1;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'partwise: no bucket of key % holds ticket %; run maintenance to repair the tracker',
                    p_key_value, p_ticket;
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.bucket_for_ticket(int, text, bigint) IS
  'Bucket of a ticket outside the current bucket; opens buckets up to it when needed.';

-- open_buckets_through: make the key's current bucket the one that holds
-- p_ticket, opening every bucket up to it. Locks the key's tracker row
-- (FOR UPDATE) until the end of the transaction: concurrent rows that also fall
-- past the old bucket wait for this transaction, then find the bucket open.
-- New buckets get the key's own limit if it has one, else the table's.
CREATE OR REPLACE FUNCTION @extschema@.open_buckets_through(p_config_id int, p_key_value text, p_ticket bigint)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
  v_limit bigint;
  v_bucket @extschema@.partition_bucket;
BEGIN
  SELECT * INTO STRICT v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value
     FOR UPDATE;
  IF v_tracker.state <> 'active' THEN
    -- Detached (or dropped) by the transaction waited for.
    PERFORM @extschema@.key_refused(p_config_id, p_key_value, v_tracker.state, v_tracker.level_one_partition);
  END IF;
  IF p_ticket < v_tracker.current_first_ticket + v_tracker.current_capacity THEN
    RETURN; -- opened by the transaction we waited for
  END IF;
  SELECT coalesce(v_tracker.bucket_limit, c.bucket_limit) INTO STRICT v_limit
    FROM @extschema@.partition_config c WHERE c.config_id = p_config_id;
  WHILE p_ticket >= v_tracker.current_first_ticket + v_tracker.current_capacity LOOP
    v_bucket := @extschema@.ensure_bucket(p_config_id, p_key_value, v_tracker.current_bucket_id + 1,
                                          v_tracker.current_first_ticket + v_tracker.current_capacity, v_limit);
    IF v_bucket.capacity <> v_limit THEN
      -- Made ahead (by the routing or maintenance) under an earlier limit: no
      -- row is in it until it opens, so it takes the limit in force now.
      UPDATE @extschema@.partition_bucket b SET capacity = v_limit
       WHERE b.config_id = p_config_id AND b.key_value = p_key_value AND b.bucket_id = v_bucket.bucket_id
      RETURNING * INTO v_bucket;
    END IF;
    v_tracker.current_bucket_id := v_bucket.bucket_id;
    v_tracker.current_leaf := v_bucket.leaf_partition;
    v_tracker.current_first_ticket := v_bucket.first_ticket;
    v_tracker.current_capacity := v_bucket.capacity;
  END LOOP;
  UPDATE @extschema@.partition_tracker
     SET current_bucket_id = v_tracker.current_bucket_id,
         current_leaf = v_tracker.current_leaf,
         current_first_ticket = v_tracker.current_first_ticket,
         current_capacity = v_tracker.current_capacity,
         rows_assigned = greatest(rows_assigned, p_ticket),
         last_updated = now()
   WHERE config_id = p_config_id AND key_value = p_key_value;
END;
$$;
COMMENT ON FUNCTION @extschema@.open_buckets_through(int, text, bigint) IS
  'Advances a key''s current bucket to the one holding a ticket, creating buckets as needed.';

-- open_bucket_ahead: creates the key's next bucket (its leaf and its
-- partition_bucket row) before the current one is full, without making it
-- current. Called by the one row whose ticket fills nine tenths of the
-- current bucket; other writers of the key go on meanwhile (they read the
-- tracker row without locking it, and the leaf is attached under SHARE UPDATE
-- EXCLUSIVE on the key's level-1 partition, which inserts do not conflict
-- with), and by the time the bucket fills its leaf is committed.
--
-- Only from a statement that is its own transaction (autocommit, where
-- statement_timestamp() is transaction_timestamp()): a longer transaction
-- would hold the new bucket's locks until it commits, and the row that opens
-- the bucket, past the end of the current one, would wait for all of it. The
-- tracker row is locked first (skipped when another session holds it: that
-- session is opening buckets already), in the order open_buckets_through
-- takes its locks, so that a statement that goes on to cross the boundary
-- itself does not deadlock with another that crossed it. A failure here (a
-- lock not granted within partwise.lock_timeout, a name conflict) does not fail
-- the insert: the row that needs the bucket creates it, or reports why not.
CREATE OR REPLACE FUNCTION @extschema@.open_bucket_ahead(
  p_config_id int, p_key_value text, p_tracker @extschema@.partition_tracker)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_limit bigint;
BEGIN
  IF statement_timestamp() <> transaction_timestamp()
     OR EXISTS (SELECT 1 FROM @extschema@.partition_bucket b
                 WHERE b.config_id = p_config_id AND b.key_value = p_key_value
                   AND b.bucket_id = p_tracker.current_bucket_id + 1) THEN
    RETURN;
  END IF;
  BEGIN
    PERFORM 1 FROM @extschema@.partition_tracker t
     WHERE t.config_id = p_config_id AND t.key_value = p_key_value
       AND t.current_bucket_id = p_tracker.current_bucket_id
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      RETURN; -- being moved on by another session, or moved on already
    END IF;
    SELECT coalesce(p_tracker.bucket_limit, c.bucket_limit) INTO STRICT v_limit
      FROM @extschema@.partition_config c WHERE c.config_id = p_config_id;
    PERFORM @extschema@.ensure_bucket(p_config_id, p_key_value, p_tracker.current_bucket_id + 1,
                                      p_tracker.current_first_ticket + p_tracker.current_capacity, v_limit);
  EXCEPTION WHEN OTHERS THEN
    NULL; -- see above: the row that needs the bucket creates it, or reports why it cannot
  END;
END;
$$;
COMMENT ON FUNCTION @extschema@.open_bucket_ahead(int, text, @extschema@.partition_tracker) IS
  'Creates a key''s next bucket before the current one is full, from the routing; never fails the insert.';
