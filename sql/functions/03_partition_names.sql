-- Names of partitions. A partition's name is chosen once, when it is created,
-- and recorded by OID in partition_tracker and partition_bucket; nothing ever
-- parses it. The preferred name is readable (`orders_customer_id_123`,
-- `orders_customer_id_123_bucket_id_0`), but any relation (or type: a table
-- makes one of its name) in the schema may already hold it: another managed
-- table whose stem runs into this one's (table `a` keyed by `b_c` and table
-- `a_b` keyed by `c` both make `a_b_c_2`), or an unrelated table. Then the
-- next candidate is tried: the preferred name with `_1`, `_2`... appended.
-- The plan predicts the same names (electron/engine/names.ts).

DROP FUNCTION IF EXISTS @extschema@.level_one_name(text, text, int);
DROP FUNCTION IF EXISTS @extschema@.available_level_one_name(@extschema@.partition_config, text);

-- partition_name_candidate(base, suffix, attempt): the attempt-th name to
-- try for a partition: base || suffix, then base || suffix || '_1', '_2'...,
-- each within 63 bytes (derived_name). Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.partition_name_candidate(p_base text, p_suffix text, p_attempt int)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT @extschema@.derived_name(p_base, CASE WHEN p_attempt = 0 THEN p_suffix ELSE p_suffix || '_' || p_attempt END)
$$;
COMMENT ON FUNCTION @extschema@.partition_name_candidate(text, text, int) IS
  'The n-th name to try for a partition: the preferred name, then with _1, _2... appended.';

-- Preferred names. A level-1 partition is <stem>_<key tag>; a leaf is
-- <level-1 partition>_<bucket column>_<bucket>.
CREATE OR REPLACE FUNCTION @extschema@.level_one_name(p_name_stem text, p_key_value text)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT @extschema@.partition_name_candidate(p_name_stem || '_' || @extschema@.key_tag(p_key_value), '', 0)
$$;
COMMENT ON FUNCTION @extschema@.level_one_name(text, text) IS
  'Preferred name of the level-1 partition of a key value.';

CREATE OR REPLACE FUNCTION @extschema@.leaf_name(p_level_one name, p_bucket_column name, p_bucket_id int)
RETURNS name
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT @extschema@.partition_name_candidate(p_level_one, '_' || p_bucket_column || '_' || p_bucket_id, 0)
$$;
COMMENT ON FUNCTION @extschema@.leaf_name(name, name, int) IS
  'Preferred name of the leaf partition that holds one bucket of a key.';

-- relation_name_taken(schema, name): whether CREATE TABLE of that name would
-- collide with a relation or a type of the schema. Reads the catalog.
CREATE OR REPLACE FUNCTION @extschema@.relation_name_taken(p_schema name, p_name name)
RETURNS boolean
LANGUAGE sql STABLE STRICT
AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = p_schema AND c.relname = p_name)
      OR EXISTS (SELECT 1 FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                  WHERE n.nspname = p_schema AND t.typname = p_name)
$$;
COMMENT ON FUNCTION @extschema@.relation_name_taken(name, name) IS
  'Whether a relation or type of the schema already has the name.';

-- partition_of(child, parent): whether child is a partition of parent. Read
-- through pg_partition_ancestors, which scans the catalog as it is now, not
-- as the transaction's snapshot saw it: a REPEATABLE READ transaction that
-- waited for another to create the partition must see it.
CREATE OR REPLACE FUNCTION @extschema@.partition_of(p_child regclass, p_parent regclass)
RETURNS boolean
LANGUAGE sql STABLE STRICT
AS $$
  SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(p_child) a WHERE a.relid = p_parent AND a.relid <> p_child)
$$;
COMMENT ON FUNCTION @extschema@.partition_of(regclass, regclass) IS
  'Whether a relation is a partition of another, as the catalog stands now.';

-- partition_holds_key(partition, parent, key text): whether a level-1
-- partition's bound accepts the key value, by evaluating its partition
-- constraint with the parent's key column and type (so 1.0 matches a bound
-- of 1). Only ever asked about a partition found under one of the key's
-- candidate names, to tell the key's own partition (left by an interrupted
-- run, or made by the session this one waited for) from another key's whose
-- long name shortened to the same one.
DROP FUNCTION IF EXISTS @extschema@.partition_holds_key(regclass, text);
CREATE OR REPLACE FUNCTION @extschema@.partition_holds_key(p_partition regclass, p_parent regclass, p_key_value text)
RETURNS boolean
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_column name;
  v_type text;
  v_holds boolean;
BEGIN
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) INTO STRICT v_column, v_type
    FROM pg_catalog.pg_partitioned_table p
    JOIN pg_catalog.pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
   WHERE p.partrelid = p_parent;
  EXECUTE format('SELECT coalesce((%s), false) FROM (SELECT $1::%s AS %I) AS x',
                 pg_catalog.pg_get_partition_constraintdef(p_partition), v_type, v_column)
     INTO v_holds USING p_key_value;
  RETURN v_holds;
END;
$$;
COMMENT ON FUNCTION @extschema@.partition_holds_key(regclass, regclass, text) IS
  'Whether a level-1 partition accepts a key value.';

-- partition_is(candidate, parent, key): whether a relation found under a
-- candidate name is the partition wanted: a partition of p_parent that, for
-- a level-1 partition (p_key_value given), holds the key. (A leaf's
-- candidate names are its bucket's alone, so a partition of its level-1
-- partition under one of them is that bucket's leaf.)
CREATE OR REPLACE FUNCTION @extschema@.partition_is(p_candidate regclass, p_parent regclass, p_key_value text)
RETURNS boolean
LANGUAGE sql STABLE
AS $$
  SELECT @extschema@.partition_of(p_candidate, p_parent)
     AND (p_key_value IS NULL OR @extschema@.partition_holds_key(p_candidate, p_parent, p_key_value))
$$;

-- existing_partition(schema, parent, base, suffix, key): the partition of
-- p_parent that was created under one of the candidate names of (base,
-- suffix), or NULL (see partition_is). Reads the catalog.
CREATE OR REPLACE FUNCTION @extschema@.existing_partition(
  p_schema name, p_parent regclass, p_base text, p_suffix text, p_key_value text DEFAULT NULL)
RETURNS regclass
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  v_candidate regclass;
BEGIN
  FOR v_attempt IN 0 .. 99 LOOP
    v_candidate := to_regclass(format('%I.%I', p_schema,
                                      @extschema@.partition_name_candidate(p_base, p_suffix, v_attempt)));
    IF v_candidate IS NOT NULL AND @extschema@.partition_is(v_candidate, p_parent, p_key_value) THEN
      RETURN v_candidate;
    END IF;
  END LOOP;
  RETURN NULL;
END;
$$;
COMMENT ON FUNCTION @extschema@.existing_partition(name, regclass, text, text, text) IS
  'The partition of a parent created under one of a partition''s candidate names.';
