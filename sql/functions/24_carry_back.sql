-- carry_back_changes: a rollback's last step before the original table takes
-- its name again: every row logged in p_log since the swap goes from p_to (the
-- original) and comes back from p_from (the partitioned table) as it now
-- stands, in two set-based statements. Applied row by row instead, a value
-- the application moved from one row to another (an e-mail address passed
-- on, two rows swapping slots) would meet itself in a unique index halfway.
-- The caller holds both tables locked against writers, and the original's
-- triggers are disabled (they fired when the rows were written). Returns the
-- rows logged. Locks: ROW EXCLUSIVE on p_to; ACCESS SHARE on the partitions
-- of p_from that hold the logged keys.
CREATE OR REPLACE FUNCTION @extschema@.carry_back_changes(
  p_log name, p_from regclass, p_to regclass, p_identity name[], p_key name, p_bucket_column name)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
  v_identity_list text := (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_identity) c);
  v_columns text;
  v_values text;
  v_entries bigint;
  v_keys text;
BEGIN
  EXECUTE format('SELECT count(*) FROM @extschema@.%I', p_log) INTO v_entries;
  IF v_entries = 0 THEN
    RETURN 0;
  END IF;
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
  -- The logged key narrows the read of the partitioned table to its partitions
  -- (a row's key never changes: such updates are refused). The logged keys,
  -- also spelled out as a constant, prune it while the statement is planned:
  -- the rollback locks the partitions of the keys written since the swap, not
  -- every partition of a tree that may be larger than the lock table.
  EXECUTE format('SELECT array_agg(DISTINCT key_value)::text FROM @extschema@.%I', p_log) INTO v_keys;
  EXECUTE format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %s f JOIN (SELECT DISTINCT %s, key_value FROM @extschema@.%I) l ON %s AND f.%I = l.key_value WHERE f.%I = ANY (%L::%s[])',
                 p_to, v_columns, v_values, p_from, v_identity_list, p_log,
                 (SELECT string_agg(format('f.%1$I = l.%1$I', c), ' AND ') FROM unnest(p_identity) c), p_key,
                 p_key, v_keys,
                 (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                   WHERE a.attrelid = p_from AND a.attname = p_key AND NOT a.attisdropped));
  RETURN v_entries;
END;
$$;
COMMENT ON FUNCTION @extschema@.carry_back_changes(name, regclass, regclass, name[], name, name) IS
  'Carries the rows written since a swap back to the original table, for a rollback.';
