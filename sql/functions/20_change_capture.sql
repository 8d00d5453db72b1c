-- Change capture for online migrations. While rows are copied, and after the
-- swap until the migration is finalized, a trigger records which rows changed:
-- their identity (primary key) and the key value they had. Replaying such a
-- log makes the other table's copy of each logged row equal to the current
-- row, whatever happened in between, so it can be applied more than once.

-- start_change_capture: create the log table @extschema@.<p_log>, its trigger
-- function and the trigger p_trigger on p_table (AFTER ... FOR EACH ROW; on a
-- partitioned table it is cloned onto every partition, present and future).
-- Locks: SHARE ROW EXCLUSIVE on p_table while the trigger is created; the
-- caller sets lock_timeout and retries.
CREATE OR REPLACE FUNCTION @extschema@.start_change_capture(
  p_log name, p_table regclass, p_identity name[], p_key name, p_trigger name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_columns text;
  v_old text;
  v_new text;
  v_changed text;
  v_key_type text;
BEGIN
  SELECT string_agg(format('%I %s NOT NULL', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY k.ord),
         string_agg(format('OLD.%I', a.attname), ', ' ORDER BY k.ord),
         string_agg(format('NEW.%I', a.attname), ', ' ORDER BY k.ord)
    INTO v_columns, v_old, v_new
    FROM unnest(p_identity) WITH ORDINALITY k(name, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = p_table AND a.attname = k.name AND NOT a.attisdropped;
  IF v_columns IS NULL OR cardinality(p_identity) <> (SELECT count(*) FROM pg_catalog.pg_attribute
        WHERE attrelid = p_table AND attname = ANY(p_identity) AND NOT attisdropped) THEN
    RAISE EXCEPTION 'partwise: % has no columns %', p_table, p_identity;
  END IF;
  SELECT format_type(atttypid, atttypmod) INTO STRICT v_key_type
    FROM pg_catalog.pg_attribute WHERE attrelid = p_table AND attname = p_key AND NOT attisdropped;
  v_changed := format('(%s, NEW.%I) IS DISTINCT FROM (%s, OLD.%I)', v_new, p_key, v_old, p_key);

  EXECUTE format('CREATE TABLE IF NOT EXISTS @extschema@.%I (change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, %s, key_value %s)',
                 p_log, v_columns, v_key_type);
  -- The trigger runs for the application's role: SECURITY DEFINER lets it
  -- write the log without granting anyone access to Partwise's schema.
  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, p_log || '_capture', format($code$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value) VALUES (%3$s, OLD.%5$I);
  END IF;
  IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND %6$s) THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value) VALUES (%4$s, NEW.%5$I);
  END IF;
  RETURN NULL;
END
$code$, p_log,
        (SELECT string_agg(quote_ident(n), ', ') FROM unnest(p_identity) n),
        v_old, v_new, p_key, v_changed));
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I() FROM PUBLIC', p_log || '_capture');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = p_table AND tgname = p_trigger) THEN
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION @extschema@.%I()',
                   p_trigger, p_table, p_log || '_capture');
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.start_change_capture(name, regclass, name[], name, name) IS
  'Starts logging which rows of a table change (identity and key), for replay onto a copy.';

-- stop_change_capture: drop the trigger (when its table still exists) and,
-- unless p_keep_log, the log and its function. Locks: as DROP TRIGGER.
CREATE OR REPLACE FUNCTION @extschema@.stop_change_capture(p_log name, p_table regclass, p_trigger name, p_keep_log boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
  IF p_table IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = p_table AND tgname = p_trigger) THEN
    EXECUTE format('DROP TRIGGER %I ON %s', p_trigger, p_table);
  END IF;
  IF NOT p_keep_log THEN
    EXECUTE format('DROP TABLE IF EXISTS @extschema@.%I', p_log);
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I()', p_log || '_capture');
    EXECUTE format('DROP FUNCTION IF EXISTS @extschema@.%I(bigint, bigint, boolean)', p_log || '_replay');
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.stop_change_capture(name, regclass, name, boolean) IS
  'Stops change capture and drops its log unless asked to keep it.';

-- create_replay: generate @extschema@.<p_log>_replay(after, limit, consume),
-- which applies up to p_limit log entries with change_id > p_after to p_to,
-- reading current rows from p_from; with p_consume the entries are deleted as
-- they are applied. Consuming is what makes catching up safe while the
-- application writes: change ids are handed out when a row is logged, not when
-- its transaction commits, so a high-water mark would skip an entry whose
-- transaction commits late. Entries not yet visible stay in the log for the
-- next call. (A rollback, under an exclusive lock, replays a whole log
-- without consuming it.)
-- For each logged row identity: if the row is gone from p_from it is deleted
-- from p_to; if it exists it is updated in place (keeping its bucket) or, when
-- p_to has no row with that identity and key, inserted, with a bucket taken
-- from the key's tickets when p_config_id is given (replay into the
-- partitioned table). Key values narrow every lookup so that partitioned
-- tables prune to one key. Returns the number of log entries applied.
CREATE OR REPLACE FUNCTION @extschema@.create_replay(
  p_log name, p_from regclass, p_to regclass, p_identity name[], p_key name,
  p_config_id int, p_bucket_column name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_identity_list text := (SELECT string_agg(format('l.%I', n), ', ') FROM unnest(p_identity) n);
  v_match_from text := (SELECT string_agg(format('f.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n);
  v_match_to text := (SELECT string_agg(format('t.%1$I = r.%1$I', n), ' AND ') FROM unnest(p_identity) n);
  v_set text;
  v_columns text;
  v_values text;
  -- Names spelled out with their schema: the generated code must not depend on
  -- the search_path of whoever runs it.
  v_from_sql text := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                        JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_from);
  v_to_sql text := (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_to);
  v_from_is_partitioned boolean := (SELECT relkind = 'p' FROM pg_catalog.pg_class WHERE oid = p_from);
  v_to_is_partitioned boolean := (SELECT relkind = 'p' FROM pg_catalog.pg_class WHERE oid = p_to);
BEGIN
  -- Columns both tables have, that an INSERT or UPDATE may set.
  SELECT string_agg(format('%1$I = s.%1$I', a.attname), ', ' ORDER BY a.attnum)
           FILTER (WHERE a.attname <> ALL (p_identity) AND a.attidentity <> 'a'),
         string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum),
         string_agg(format('s.%I', a.attname), ', ' ORDER BY a.attnum)
    INTO v_set, v_columns, v_values
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = p_to AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
     AND a.attname IS DISTINCT FROM p_bucket_column
     AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b
                  WHERE b.attrelid = p_from AND b.attname = a.attname AND NOT b.attisdropped);
  IF p_config_id IS NOT NULL THEN
    v_columns := v_columns || ', ' || quote_ident(p_bucket_column);
    v_values := v_values || ', v_bucket';
  END IF;

  EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I(p_after bigint, p_limit bigint, p_consume boolean) RETURNS bigint
LANGUAGE plpgsql
AS %2$L
$body$, p_log || '_replay', format($code$
#variable_conflict use_column
DECLARE
  r record;
  s record;
  v_bucket int;
  v_entries bigint := 0;
  v_ids bigint[];
BEGIN
  SELECT array_agg(l.change_id ORDER BY l.change_id), count(*) INTO v_ids, v_entries
    FROM (SELECT l.change_id FROM @extschema@.%2$I l WHERE l.change_id > p_after ORDER BY l.change_id LIMIT p_limit) l;
  IF v_entries = 0 THEN
    RETURN 0;
  END IF;
  FOR r IN
    SELECT %1$s, array_agg(DISTINCT l.key_value) AS keys
      FROM @extschema@.%2$I l
     WHERE l.change_id = ANY (v_ids)
     GROUP BY %1$s
  LOOP
    SELECT * INTO s FROM %3$s f WHERE %4$s%5$s;
    IF NOT FOUND THEN
      DELETE FROM %6$s t WHERE %7$s%8$s;
    ELSE
      %9$s
      IF NOT FOUND THEN
        DELETE FROM %6$s t WHERE %7$s%8$s;
        %10$s
        INSERT INTO %6$s (%11$s) OVERRIDING SYSTEM VALUE VALUES (%12$s);
      END IF;
    END IF;
  END LOOP;
  IF p_consume THEN
    DELETE FROM @extschema@.%2$I l WHERE l.change_id = ANY (v_ids);
  END IF;
  RETURN v_entries;
END
$code$,
    v_identity_list,
    p_log,
    v_from_sql,
    v_match_from,
    CASE WHEN v_from_is_partitioned THEN format(' AND f.%I = ANY (r.keys)', p_key) ELSE '' END,
    v_to_sql,
    v_match_to,
    CASE WHEN v_to_is_partitioned THEN format(' AND t.%I = ANY (r.keys)', p_key) ELSE '' END,
    CASE WHEN v_set IS NULL THEN 'PERFORM 1 FROM ' || v_to_sql || ' t WHERE ' || v_match_to || format(' AND t.%1$I = s.%1$I;', p_key)
         ELSE format('UPDATE %s t SET %s WHERE %s AND t.%I = s.%I;', v_to_sql, v_set, v_match_to, p_key, p_key) END,
    CASE WHEN p_config_id IS NULL THEN ''
         -- The key's canonical text, as routing and the copy use (02_key_text.sql).
         ELSE format('SELECT a.bucket_id INTO v_bucket FROM @extschema@.assign_bucket(%s, %s) a;', p_config_id,
                     @extschema@.key_text_sql_for(p_to, p_key, format('s.%I', p_key))) END,
    v_columns,
    v_values));
  EXECUTE format('REVOKE EXECUTE ON FUNCTION @extschema@.%I(bigint, bigint, boolean) FROM PUBLIC', p_log || '_replay');
END;
$$;
COMMENT ON FUNCTION @extschema@.create_replay(name, regclass, regclass, name[], name, int, name) IS
  'Generates the function that replays a change log from one table onto another.';
