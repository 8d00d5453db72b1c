-- The after-swap change log records each row's bucket (bucket_value), so that
-- a rollback's carry-back reads one leaf per logged row instead of every leaf
-- of its key (sql/functions/24_carry_back.sql). Runs swapped by an earlier
-- version and not yet finalized or rolled back have a log without it: the
-- column is added, and their capture function replaced by one that fills it,
-- as start_change_capture now makes it. Rows logged before this upgrade keep
-- no bucket, and carry_back_changes reads their keys in all their leaves.
-- A log this role may not change is left as it is: carry_back_changes reads
-- a log without the column as before.
DO $upgrade$
DECLARE
  v_target record;
  v_partitioned regclass;
  v_bucket_type text;
  v_identity text;
BEGIN
  FOR v_target IN
    SELECT t.saved ->> 'afterLog' AS log, t.table_schema, t.partitioned_table, t.key_column, t.bucket_column,
           ARRAY(SELECT jsonb_array_elements_text(t.saved -> 'identity'))::name[] AS identity
      FROM @extschema@.migration_target t
     WHERE t.saved ? 'afterLog'
       AND to_regclass(format('@extschema@.%I', t.saved ->> 'afterLog')) IS NOT NULL
  LOOP
    v_partitioned := to_regclass(format('%I.%I', v_target.table_schema, v_target.partitioned_table));
    CONTINUE WHEN v_partitioned IS NULL OR cardinality(v_target.identity) = 0;
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_bucket_type
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = v_partitioned AND a.attname = v_target.bucket_column AND NOT a.attisdropped;
    CONTINUE WHEN v_bucket_type IS NULL;
    v_identity := (SELECT string_agg(quote_ident(n), ', ') FROM unnest(v_target.identity) n);
    BEGIN
      EXECUTE format('ALTER TABLE @extschema@.%I ADD COLUMN IF NOT EXISTS bucket_value %s', v_target.log, v_bucket_type);
      IF to_regprocedure(format('@extschema@.%I()', v_target.log || '_capture')) IS NOT NULL THEN
        EXECUTE format($body$
CREATE OR REPLACE FUNCTION @extschema@.%1$I() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS %2$L
$body$, v_target.log || '_capture', format($code$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value, bucket_value) SELECT %2$s, %3$I, %4$I FROM partwise_new;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO @extschema@.%1$I (%2$s, key_value, bucket_value) SELECT %2$s, %3$I, %4$I FROM partwise_old;
  ELSE
    INSERT INTO @extschema@.%1$I (%2$s, key_value, bucket_value)
    SELECT %2$s, %3$I, %4$I FROM partwise_old UNION SELECT %2$s, %3$I, %4$I FROM partwise_new;
  END IF;
  RETURN NULL;
END
$code$, v_target.log, v_identity, v_target.key_column, v_target.bucket_column));
      END IF;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'partwise: change log % left without buckets: %', v_target.log, SQLERRM;
    END;
  END LOOP;
END
$upgrade$;
