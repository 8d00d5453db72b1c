-- uninstall(config): stop managing one table and leave its data where it is.
-- The routing view, its trigger function, the key guard and the ticket
-- sequences are dropped, the metadata rows deleted, and the partitioned table
-- takes the application's name again (without routing, inserts must then name
-- an existing partition's key and bucket). Nothing is dropped with CASCADE: a
-- view that depends on the routing view makes this fail with PostgreSQL's
-- error naming it.
--
-- A procedure, as provision and maintain: on a tree larger than the lock
-- table (20,000 leaves with the default max_locks_per_transaction), dropping
-- every key guard and ticket sequence in one transaction fails with "out of
-- shared memory", so the work after routing stops is done a batch per
-- transaction (uninstall_lock_budget relations each), committed in between.
-- The order keeps every state between two commits safe, and CALLing it again
-- after an interruption finishes the job (each step finds its remaining work
-- in the catalog and the metadata, which go last):
--   1. stop_routing, in one transaction: the view and its routing go, the
--      partitioned table takes the application's name. From then on the
--      table is a plain partitioned table; nothing routes into it.
--      The unique registries' trigger functions do nothing from then on
--      (relax_unique_registries: a function change, no relation locked):
--      the end state enforces no uniqueness across the partitions, and a
--      registry kept by some partitions and not others would refuse values
--      that are no longer there.
--   2. the key guards and the registries' row triggers of a group of
--      level-1 partitions (or pool leaves) per transaction. A guard still in
--      place only refuses an UPDATE that changes a key (which would move the
--      row to another key's partition): stricter than the end state, never a
--      row in the wrong place; a row trigger left does nothing.
--   3. the ticket sequences of a group of keys per transaction (nobody takes
--      tickets once routing is gone), the tracker forgetting each.
--   4. forget_table, in one transaction: the unique registries (with their
--      statement triggers, on the partitioned table alone; a row trigger an
--      earlier version put on the partitioned table goes here with its clone
--      on every partition, see install_unique_triggers), the pool's counter
--      and the metadata rows.
-- p_budget overrides the batch's size in relations (smaller transactions
-- on a busy server). When the whole of it fits one batch nothing is
-- committed, so that on an ordinary tree it stays atomic and may run inside
-- a transaction block, as the function it replaces did. Call it outside a
-- transaction block otherwise (PostgreSQL refuses a COMMIT there, and the
-- caller's transaction, routing's removal included, rolls back):
--   CALL partwise.uninstall(1);
-- Locks: those of stop_routing; then, per transaction, ACCESS EXCLUSIVE on
-- a group of level-1 partitions (or pool leaves) and their leaves (a key's leaves go
-- together: one key with more leaves than the budget is one batch alone), or
-- on a group of ticket sequences; then those of forget_table.
-- Until this version a function: dropped once (DROP FUNCTION IF EXISTS
-- fails on the procedure, "is not a function", when this file runs again).
DO $$
BEGIN
  IF (SELECT prokind FROM pg_catalog.pg_proc WHERE oid = to_regprocedure('@extschema@.uninstall(int)')) = 'f' THEN
    DROP FUNCTION @extschema@.uninstall(int);
  END IF;
END
$$;
CREATE OR REPLACE PROCEDURE @extschema@.uninstall(p_config_id int, p_budget int DEFAULT NULL)
LANGUAGE plpgsql
AS $$
DECLARE
  v_budget int := greatest(coalesce(p_budget, @extschema@.uninstall_lock_budget()), 1);
  v_batched boolean;
  v_batch regclass[];
  v_relation regclass;
  v_trigger name;
  v_unique_check regprocedure := to_regprocedure(format('@extschema@.%I()', 'unique_check_' || p_config_id));
BEGIN
  -- stop_routing waits for the routed inserts under way (it drops the view),
  -- then the ticket sequences and tracker rows are read and dropped: in an
  -- older snapshot those the inserts it waited for made would be missed and
  -- left behind (see require_read_committed). Refused rather than
  -- set, as maintain does: on an ordinary tree the whole uninstall is the
  -- caller's transaction, possibly a transaction block, whose isolation this
  -- procedure cannot change. Outside a block the later transactions take the
  -- same default_transaction_isolation as the first.
  PERFORM @extschema@.require_read_committed(format('CALL %s.uninstall(%s)', '@extschema@'::regnamespace, p_config_id));
  PERFORM @extschema@.stop_routing(p_config_id);
  PERFORM @extschema@.relax_unique_registries(p_config_id);
  v_batched := @extschema@.uninstall_work(p_config_id) > v_budget;
  IF v_batched THEN
    COMMIT;
  END IF;
  LOOP
    v_batch := @extschema@.guarded_level_ones(p_config_id, v_budget);
    EXIT WHEN v_batch IS NULL;
    FOREACH v_relation IN ARRAY v_batch LOOP
      -- Its own triggers, not a clone (which goes with the trigger it was
      -- cloned from: an earlier version's on the pool).
      FOR v_trigger IN
        SELECT t.tgname FROM pg_catalog.pg_trigger t
         WHERE t.tgrelid = v_relation AND t.tgparentid = 0
           AND (t.tgname = 'partwise_key_guard' OR t.tgfoid = v_unique_check)
      LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', v_trigger, v_relation);
      END LOOP;
    END LOOP;
    IF v_batched THEN
      COMMIT;
    END IF;
  END LOOP;
  LOOP
    SELECT array_agg(s.ticket_sequence) INTO v_batch
      FROM (SELECT t.ticket_sequence FROM @extschema@.partition_tracker t
             WHERE t.config_id = p_config_id AND t.ticket_sequence IS NOT NULL
             ORDER BY t.key_value LIMIT v_budget) s;
    EXIT WHEN v_batch IS NULL;
    FOREACH v_relation IN ARRAY v_batch LOOP
      EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_relation);
    END LOOP;
    UPDATE @extschema@.partition_tracker SET ticket_sequence = NULL
     WHERE config_id = p_config_id AND ticket_sequence = ANY (v_batch);
    IF v_batched THEN
      COMMIT;
    END IF;
  END LOOP;
  PERFORM @extschema@.forget_table(p_config_id);
END;
$$;
COMMENT ON PROCEDURE @extschema@.uninstall(int, int) IS
  'Stops managing a table: drops routing and metadata, keeps every row; a batch of partitions per transaction on a large tree.';

-- stop_routing(config): the first step of uninstall, in one transaction:
-- the routing view and its trigger function go (the sequences the view owns
-- pass to the partitioned table), so does a key guard on the partitioned
-- table itself (tables migrated before the guard moved to the level-1
-- partitions: that drop locks every partition), and the partitioned table
-- takes the application's name. The configuration's mode says routing is
-- off. Run again once done, it changes nothing.
-- Locks: ACCESS EXCLUSIVE on the view (dropped) and the partitioned table
-- (renamed); on every partition too when the partitioned table has the guard.
CREATE OR REPLACE FUNCTION @extschema@.stop_routing(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_view regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name));
  v_parted regclass := to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table));
BEGIN
  IF v_view IS NOT NULL AND (SELECT relkind FROM pg_catalog.pg_class WHERE oid = v_view) = 'v' THEN
    IF v_parted IS NOT NULL THEN
      PERFORM @extschema@.move_owned_sequences(v_view, v_parted);
    END IF;
    EXECUTE format('DROP VIEW %s', v_view);
  END IF;
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'route_insert_' || p_config_id);
  IF v_parted IS NOT NULL THEN
    EXECUTE format('DROP TRIGGER IF EXISTS partwise_key_guard ON %s', v_parted);
    IF to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name)) IS NULL THEN
      EXECUTE format('ALTER TABLE %s RENAME TO %I', v_parted, v_config.table_name);
    END IF;
  END IF;
  UPDATE @extschema@.partition_config SET mode = 'building', updated_at = now()
   WHERE config_id = p_config_id AND mode <> 'building';
END;
$$;
COMMENT ON FUNCTION @extschema@.stop_routing(int) IS
  'First step of uninstall: drops the routing view and its trigger function, gives the table its name back.';

-- uninstall_lock_budget(): the relations one transaction of uninstall locks
-- at most (a key's leaves go together, so one large key may exceed it): an
-- eighth of the server's lock table (max_locks_per_transaction x
-- max_connections, 800 by default). Dropping a trigger takes two entries per
-- relation (the relation and the trigger; a relation losing two triggers is
-- counted twice, see guarded_partitions), so a batch takes a quarter of the
-- table at most, and the application keeps the rest. No locks.
CREATE OR REPLACE FUNCTION @extschema@.uninstall_lock_budget()
RETURNS int
LANGUAGE sql
STABLE
AS $$
  SELECT greatest(current_setting('max_locks_per_transaction')::int * current_setting('max_connections')::int / 8, 1)
$$;
COMMENT ON FUNCTION @extschema@.uninstall_lock_budget() IS
  'Relations one transaction of uninstall locks at most: an eighth of the lock table.';

-- guarded_partitions(config): each level-1 partition, pool leaf (or pool,
-- as installed by an earlier version) of a table holding a key guard or a
-- unique registries' row trigger of its own, with the relations dropping
-- them locks (the partition and its leaves; a pool leaf alone), counted once
-- per trigger: each trigger dropped takes an entry of the lock table per
-- relation beside the relation's own (uninstall_lock_budget). A pool
-- guarded as a whole is one batch with all its leaves: beyond the lock table
-- it fails ("out of shared memory"), as its drop has to take every clone at
-- once. No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.guarded_partitions(p_config_id int)
RETURNS TABLE (relation regclass, relations bigint)
LANGUAGE sql
STABLE
AS $$
  SELECT r.relation::regclass,
         (1 + (SELECT count(*) FROM pg_catalog.pg_inherits i WHERE i.inhparent = r.relation)) * r.triggers
    FROM (SELECT tg.tgrelid AS relation, count(*) AS triggers
            FROM pg_catalog.pg_trigger tg
           WHERE (tg.tgname = 'partwise_key_guard'
                  OR tg.tgfoid = to_regprocedure(format('@extschema@.%I()', 'unique_check_' || p_config_id)))
             AND tg.tgparentid = 0
             AND tg.tgrelid IN (SELECT t.level_one_partition FROM @extschema@.partition_tracker t WHERE t.config_id = p_config_id
                                UNION
                                SELECT k.pool_partition FROM @extschema@.key_pool k WHERE k.config_id = p_config_id
                                UNION
                                SELECT i.inhrelid FROM @extschema@.key_pool k
                                  JOIN pg_catalog.pg_inherits i ON i.inhparent = k.pool_partition
                                 WHERE k.config_id = p_config_id)
           GROUP BY tg.tgrelid) r
$$;
COMMENT ON FUNCTION @extschema@.guarded_partitions(int) IS
  'The level-1 partitions and pool leaves of a managed table holding a key guard or unique row trigger of their own, with the relations their drop locks (once per trigger).';

-- guarded_level_ones(config, budget): the next batch of partitions of a
-- table whose key guard and unique registries' row trigger uninstall drops:
-- the level-1 partitions of its keys (own, pooled or detached), its pool
-- leaves (and its pool) that hold one of their own (not a clone), in OID
-- order, as many as fit the budget counting each with its leaves (the
-- triggers' clones, see guarded_partitions), at least one; NULL when none is
-- left.
-- No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.guarded_level_ones(p_config_id int, p_budget int)
RETURNS regclass[]
LANGUAGE sql
STABLE
AS $$
  SELECT array_agg(g.relation ORDER BY g.relation)
    FROM (SELECT w.relation, sum(w.relations) OVER (ORDER BY w.relation) AS upto,
                 row_number() OVER (ORDER BY w.relation) AS n
            FROM @extschema@.guarded_partitions(p_config_id) w) g
   WHERE g.upto <= p_budget OR g.n = 1
$$;
COMMENT ON FUNCTION @extschema@.guarded_level_ones(int, int) IS
  'The next group of level-1 partitions whose key guard uninstall drops, within a budget of relations.';

-- uninstall_work(config): the relations uninstall still has to lock after
-- routing stopped (guarded partitions with their leaves, ticket sequences),
-- to tell whether it fits one transaction. No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.uninstall_work(p_config_id int)
RETURNS bigint
LANGUAGE sql
STABLE
AS $$
  SELECT coalesce((SELECT sum(relations) FROM @extschema@.guarded_partitions(p_config_id)), 0)
       + (SELECT count(*) FROM @extschema@.partition_tracker
           WHERE config_id = p_config_id AND ticket_sequence IS NOT NULL)
$$;
COMMENT ON FUNCTION @extschema@.uninstall_work(int) IS
  'The relations uninstall still locks after routing stopped: guarded partitions with their leaves, ticket sequences.';

-- forget_table(config): drop a table's ticket sequences and metadata rows,
-- leaving its relations alone (uninstall and a migration's rollback decide
-- what happens to those).
CREATE OR REPLACE FUNCTION @extschema@.forget_table(p_config_id int)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_sequence regclass;
BEGIN
  PERFORM @extschema@.drop_unique_registries(p_config_id);
  FOR v_sequence IN
    SELECT ticket_sequence FROM @extschema@.partition_tracker
     WHERE config_id = p_config_id AND ticket_sequence IS NOT NULL
  LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_sequence);
  END LOOP;
  FOR v_sequence IN SELECT ticket_sequence FROM @extschema@.key_pool WHERE config_id = p_config_id LOOP
    EXECUTE format('DROP SEQUENCE IF EXISTS %s', v_sequence);
  END LOOP;
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'route_insert_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(text)', 'take_bucket_' || p_config_id);
  EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', 'sync_grants_' || p_config_id);
  DELETE FROM @extschema@.partition_config WHERE config_id = p_config_id;
END;
$$;
COMMENT ON FUNCTION @extschema@.forget_table(int) IS
  'Drops the ticket sequences and metadata of a managed table, not its relations.';

-- refuse_unfinished_uninstall(config, action): raises when CALL uninstall
-- stopped the table's routing and was interrupted before it forgot the
-- table. Such a table is marked only by its mode ('building', as during a
-- migration before the swap), but unlike a table being migrated its
-- partitioned table took the application's name back (stop_routing): the
-- name is a partitioned table, the partitioned table's own name is gone.
-- Maintenance, key actions, provisioning and routing would act on metadata
-- that nothing keeps any more (creating partitions, moving rows of a table
-- no longer managed); the way on is to finish the uninstall, which CALLing it
-- again does. No locks (catalog reads).
CREATE OR REPLACE FUNCTION @extschema@.refuse_unfinished_uninstall(p_config_id int, p_action text)
RETURNS void
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
BEGIN
  IF v_config.mode = 'building'
     AND to_regclass(format('%I.%I', v_config.table_schema, v_config.partitioned_table)) IS NULL
     AND (SELECT c.relkind FROM pg_catalog.pg_class c
           WHERE c.oid = to_regclass(format('%I.%I', v_config.table_schema, v_config.table_name))) = 'p' THEN
    RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
      MESSAGE = format('partwise: the uninstall of %I.%I was interrupted (its routing is gone, its metadata left); %s refuses a table being uninstalled. Finish it with CALL %s.uninstall(%s) again.',
                       v_config.table_schema, v_config.table_name, p_action,
                       '@extschema@'::regnamespace, p_config_id);
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.refuse_unfinished_uninstall(int, text) IS
  'Raises for a table whose uninstall was interrupted, naming the CALL that finishes it.';
