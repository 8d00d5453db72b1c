-- Key identity. A key value is stored as text (tracker, bucket rows, partition
-- bounds, names), so two values that the key type calls equal must give the
-- same text, or one key would get two trackers and two overlapping partitions
-- (numeric 1 and 1.0: "partition ... would overlap"). Each accepted type has
-- one canonical text, and only types for which that was tested are accepted.
-- The same rules live in electron/engine/key-types.ts (the plan reads them
-- before anything is installed); a test checks that both agree.
-- Immutable or stable catalog reads; no locks.

-- key_type_verdict(type, collation): the key kind of a column type, or NULL
-- and the reason it cannot be a partition key.
--   integer  smallint, integer, bigint: their text is canonical.
--   numeric  trim_scale(value): 1, 1.0 and 1.00 are equal and print alike.
--   text     text, varchar, char(n), name with a deterministic collation:
--            equality is byte equality (char(n) ignores trailing spaces, and
--            so does its text).
--   citext   lower(value) under the database's default collation, which is
--            how citext compares.
--   uuid, boolean, enum: their output function is canonical ('T', 'yes' and
--            't' all print as true; upper-case uuids print in lower case).
-- Domains follow their base type.
CREATE OR REPLACE FUNCTION @extschema@.key_type_verdict(p_type oid, p_collation oid, OUT kind text, OUT reason text)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_base oid := p_type;
  v_type pg_catalog.pg_type;
  v_display text := pg_catalog.format_type(p_type, NULL);
BEGIN
  LOOP
    SELECT * INTO STRICT v_type FROM pg_catalog.pg_type WHERE oid = v_base;
    EXIT WHEN v_type.typtype <> 'd';
    v_base := v_type.typbasetype;
  END LOOP;
  IF v_base IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype) THEN
    kind := 'integer';
  ELSIF v_base = 'pg_catalog.numeric'::regtype THEN
    kind := 'numeric';
  ELSIF v_base IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype, 'pg_catalog.bpchar'::regtype,
                   'pg_catalog.name'::regtype)
        OR (v_type.typname = 'citext' AND v_type.typtype = 'b') THEN
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_collation WHERE oid = p_collation AND NOT collisdeterministic) THEN
      reason := format('%s uses the nondeterministic collation %s: values it calls equal (by case or accent) have different texts, and no canonical form of them is known',
                       v_display, (SELECT collname FROM pg_catalog.pg_collation WHERE oid = p_collation));
    ELSE
      kind := CASE WHEN v_type.typname = 'citext' THEN 'citext' ELSE 'text' END;
    END IF;
  ELSIF v_base = 'pg_catalog.uuid'::regtype THEN
    kind := 'uuid';
  ELSIF v_base = 'pg_catalog.bool'::regtype THEN
    kind := 'boolean';
  ELSIF v_type.typtype = 'e' THEN
    kind := 'enum';
  ELSIF v_base IN ('pg_catalog.float4'::regtype, 'pg_catalog.float8'::regtype) THEN
    reason := format('%s: 0 and -0 are equal but print differently, and the printed digits depend on the session setting extra_float_digits', v_display);
  ELSIF v_base IN ('pg_catalog.date'::regtype, 'pg_catalog.timestamp'::regtype, 'pg_catalog.timestamptz'::regtype,
                   'pg_catalog.time'::regtype, 'pg_catalog.timetz'::regtype, 'pg_catalog.interval'::regtype) THEN
    reason := format('%s values print according to the session settings DateStyle, IntervalStyle and TimeZone, so one value can have several texts', v_display);
  ELSIF v_base = 'pg_catalog.money'::regtype THEN
    reason := format('%s values print according to the session setting lc_monetary', v_display);
  ELSIF v_base = 'pg_catalog.bytea'::regtype THEN
    reason := format('%s values print according to the session setting bytea_output', v_display);
  ELSIF v_base IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype) THEN
    reason := format('%s documents that are equal can be written differently (1.0 and 1, key order, spacing)', v_display);
  ELSIF v_type.typelem <> 0 AND v_type.typlen = -1 THEN
    reason := format('%s: arrays compare element by element with the element type''s equality, so equal arrays can be written differently', v_display);
  ELSIF v_type.typtype = 'c' THEN
    reason := format('%s: composite values compare field by field with each field''s equality, so equal values can be written differently', v_display);
  ELSE
    reason := format('%s is not among the key types whose equality Partwise has tested (integers, numeric, text, varchar, char, name, citext, uuid, boolean, enums, and domains over them)', v_display);
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.key_type_verdict(oid, oid) IS
  'Key kind of a column type, or the reason it cannot be a partition key.';

-- key_text_sql(kind, expression): SQL for the canonical text of a key value
-- of that kind. Fully qualified: it runs under any search_path.
CREATE OR REPLACE FUNCTION @extschema@.key_text_sql(p_kind text, p_expression text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT CASE p_kind
    WHEN 'numeric' THEN format('pg_catalog.trim_scale(%s)::pg_catalog.text', p_expression)
    WHEN 'citext' THEN format('pg_catalog.lower((%s)::pg_catalog.text COLLATE pg_catalog."default")', p_expression)
    ELSE format('(%s)::pg_catalog.text', p_expression)
  END
$$;
COMMENT ON FUNCTION @extschema@.key_text_sql(text, text) IS
  'SQL expression for the canonical text of a key value of a given kind.';

-- key_text_sql_for(relation, column, expression): the canonical key text of
-- a column of a relation, or a clear error if its type is not accepted.
CREATE OR REPLACE FUNCTION @extschema@.key_text_sql_for(p_relation regclass, p_column name, p_expression text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_verdict record;
BEGIN
  SELECT v.* INTO STRICT v_verdict
    FROM pg_catalog.pg_attribute a, @extschema@.key_type_verdict(a.atttypid, a.attcollation) v
   WHERE a.attrelid = p_relation AND a.attname = p_column AND NOT a.attisdropped;
  IF v_verdict.kind IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'feature_not_supported',
      MESSAGE = format('partwise: %I of %s cannot be a partition key: %s', p_column,
                       (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c
                          JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_relation),
                       v_verdict.reason);
  END IF;
  RETURN @extschema@.key_text_sql(v_verdict.kind, p_expression);
END;
$$;
COMMENT ON FUNCTION @extschema@.key_text_sql_for(regclass, name, text) IS
  'SQL expression for the canonical key text of a column; raises for key types that are not accepted.';

-- canonical_key(config, text): the canonical text of a key value given as
-- text (by a person calling provision, say): '1.00' becomes '1' for a
-- numeric key. Reads the configuration; no locks.
CREATE OR REPLACE FUNCTION @extschema@.canonical_key(p_config_id int, p_key_value text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_config @extschema@.partition_config := @extschema@.config_by_id(p_config_id);
  v_parted regclass := format('%I.%I', v_config.table_schema, v_config.partitioned_table)::regclass;
  v_type text;
  v_result text;
BEGIN
  IF p_key_value IS NULL THEN
    RETURN NULL;
  END IF;
  SELECT pg_catalog.format_type(atttypid, atttypmod) INTO STRICT v_type FROM pg_catalog.pg_attribute
   WHERE attrelid = v_parted AND attname = v_config.key_column AND NOT attisdropped;
  EXECUTE format('SELECT %s FROM (SELECT $1::%s AS k) AS x',
                 @extschema@.key_text_sql_for(v_parted, v_config.key_column, 'x.k'), v_type)
     INTO v_result USING p_key_value;
  RETURN v_result;
END;
$$;
COMMENT ON FUNCTION @extschema@.canonical_key(int, text) IS
  'Canonical text of a key value of a managed table, as routing stores it.';
