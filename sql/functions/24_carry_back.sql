-- carry_back_changes: a rollback's last step before the original table takes
-- its name again: every row logged in p_log since the swap goes from p_to (the
-- original) and comes back from p_from (the partitioned table) as it now
-- stands, in set-based statements. Applied row by row instead, a value the
-- application moved from one row to another (an e-mail address passed on,
-- two rows swapping slots) would meet itself in a unique index halfway.
-- The caller holds both tables locked against writers, and the original's
-- triggers are disabled (they fired when the rows were written). Returns the
-- rows logged.
--
-- The log holds each row's key and bucket (start_change_capture): the rows
-- come back from the leaves of the logged (key, bucket) pairs only, spelled
-- out as constants so that the planner prunes to those leaves before it
-- locks anything. By key alone, a key of hundreds of buckets would be
-- probed, and locked, in every one of its leaves for a single row written.
-- Constants for keys and for buckets prune to every listed bucket of every
-- listed key, so the keys go in groups of those with the same logged
-- buckets: one statement per group, each reading exactly its leaves. A log
-- from before buckets were logged (or rows logged before the upgrade that
-- added the column, sql/migrations/0011_carry_back_buckets.sql) has no
-- bucket: such keys are read in all their leaves, as then.
-- Locks: ROW EXCLUSIVE on p_to; ACCESS SHARE on the leaves of p_from that
-- hold the logged (key, bucket) pairs, and on their level-1 partitions.
CREATE OR REPLACE FUNCTION @extschema@.carry_back_changes(
  p_log name, p_from regclass, p_to regclass, p_identity name[], p_key name, p_bucket_column name)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  v_identity_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_identity) c);
  v_key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = p_from AND a.attname = p_key AND NOT a.attisdropped);
  v_bucket_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid = p_from AND a.attname = p_bucket_column AND NOT a.attisdropped);
  v_logged_bucket text;
  v_columns text;
  v_values text;
  v_entries bigint;
  v_keys text;
  v_buckets text;
  v_carried text;
BEGIN
  -- Reads the log after the caller's locks: see require_read_committed.
  PERFORM @extschema@.require_read_committed('carry_back_changes (a rollback)');
  EXECUTE format('SELECT count(*) FROM @extschema@.%I', p_log) INTO v_entries;
  IF v_entries = 0 THEN
    RETURN 0;
  END IF;
  v_logged_bucket := CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_attribute
                                        WHERE attrelid = format('@extschema@.%I', p_log)::regclass
                                          AND attname = 'bucket_value' AND NOT attisdropped)
                          THEN 'bucket_value' ELSE format('NULL::%s', v_bucket_type) END;
  -- Columns both tables have, that an INSERT may set.
  SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum), string_agg(format('f.%I', a.attname), ', ' ORDER BY a.attnum)
    INTO v_columns, v_values
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = p_to AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     AND a.attname IS DISTINCT FROM p_bucket_column
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
                  WHERE b.attrelid = p_from AND b.attname = a.attname AND NOT b.attisdropped);
  EXECUTE format('DELETE FROM %s t USING (SELECT DISTINCT %s FROM @extschema@.%I) l WHERE %s',
                 p_to, v_identity_list, p_log,
                 (SELECT string_agg(format('t.%1$I = l.%1$I', c), ' AND ') FROM unnest(p_identity) c));
  -- The logged rows, read once into a temporary table, then a group of keys
  -- at a time (by key: its index). A role without TEMP reads the log itself
  -- for each group instead: slower for many groups, but a rollback must not
  -- need a privilege the migration did not.
  v_carried := format('(SELECT DISTINCT %s, key_value, %s AS bucket_value FROM @extschema@.%I)',
                      v_identity_list, v_logged_bucket, p_log);
  IF pg_catalog.has_database_privilege(current_database(), 'TEMP') THEN
    DROP TABLE IF EXISTS pg_temp.partwise_carried;
    EXECUTE format('CREATE TEMP TABLE partwise_carried ON COMMIT DROP AS SELECT * FROM %s c', v_carried);
    CREATE INDEX ON pg_temp.partwise_carried (key_value);
    ANALYZE pg_temp.partwise_carried;
    v_carried := 'pg_temp.partwise_carried';
  END IF;
  -- A row's key never changes (such updates are refused); its bucket may (a
  -- compaction moves rows), and then both are logged: its current one among them.
  FOR v_keys, v_buckets IN EXECUTE format(
    'SELECT array_agg(g.key_value)::text, g.buckets::text
       FROM (SELECT key_value, CASE WHEN bool_or(bucket_value IS NULL) THEN NULL
                                    ELSE array_agg(DISTINCT bucket_value ORDER BY bucket_value) END AS buckets
               FROM %s c GROUP BY key_value) g
      GROUP BY g.buckets', v_carried)
  LOOP
    EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s f'
                   ' JOIN (SELECT DISTINCT %s, key_value FROM %s c WHERE key_value = ANY (%L::%s[])) l'
                   ' ON %s AND f.%I = l.key_value WHERE f.%I = ANY (%L::%s[])%s',
                   p_to, v_columns, v_values, p_from, v_identity_list, v_carried, v_keys, v_key_type,
                   (SELECT string_agg(format('f.%1$I = l.%1$I', c), ' AND ') FROM unnest(p_identity) c), p_key,
                   p_key, v_keys, v_key_type,
                   CASE WHEN v_buckets IS NULL THEN ''
                        ELSE format(' AND f.%I = ANY (%L::%s[])', p_bucket_column, v_buckets, v_bucket_type) END);
  END LOOP;
  DROP TABLE IF EXISTS pg_temp.partwise_carried;
  RETURN v_entries;
END;
$$;
COMMENT ON FUNCTION @extschema@.carry_back_changes(name, regclass, regclass, name[], name, name) IS
  'Carries the rows written since a swap back to the original table, for a rollback.';
