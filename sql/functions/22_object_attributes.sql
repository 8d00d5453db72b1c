-- What a swap carries from the original table's objects to the partitioned
-- table's equivalents, beside their definitions: comments on indexes,
-- constraints, triggers and policies, and a sequence's grants and comment.
-- Done here so that every name is quoted by format('%I') and every comment
-- goes in as a literal (%L).

-- copy_object_comment: the comment on the index, constraint, trigger or
-- policy p_from_name of table p_from_table, set on p_to_name of p_to_table.
-- Locks: those of COMMENT ON.
CREATE OR REPLACE FUNCTION @extschema@.copy_object_comment(
  p_kind text, p_from_table regclass, p_from_name name, p_to_table regclass, p_to_name name)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_comment text;
  v_target text;
BEGIN
  CASE p_kind
    WHEN 'index' THEN
      SELECT pg_catalog.obj_description(i.indexrelid, 'pg_class') INTO v_comment
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = p_from_table AND c.relname = p_from_name;
      SELECT format('INDEX %s', i.indexrelid::regclass) INTO v_target
        FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = p_to_table AND c.relname = p_to_name;
    WHEN 'constraint' THEN
      SELECT pg_catalog.obj_description(oid, 'pg_constraint') INTO v_comment
        FROM pg_catalog.pg_constraint WHERE conrelid = p_from_table AND conname = p_from_name;
      v_target := format('CONSTRAINT %I ON %s', p_to_name, p_to_table);
    WHEN 'trigger' THEN
      SELECT pg_catalog.obj_description(oid, 'pg_trigger') INTO v_comment
        FROM pg_catalog.pg_trigger WHERE tgrelid = p_from_table AND tgname = p_from_name;
      v_target := format('TRIGGER %I ON %s', p_to_name, p_to_table);
    WHEN 'policy' THEN
      SELECT pg_catalog.obj_description(oid, 'pg_policy') INTO v_comment
        FROM pg_catalog.pg_policy WHERE polrelid = p_from_table AND polname = p_from_name;
      v_target := format('POLICY %I ON %s', p_to_name, p_to_table);
    ELSE
      RAISE EXCEPTION 'partwise: copy_object_comment: unknown kind %', p_kind;
  END CASE;
  IF v_comment IS NOT NULL AND v_target IS NOT NULL THEN
    EXECUTE format('COMMENT ON %s IS %L', v_target, v_comment);
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.copy_object_comment(text, regclass, name, regclass, name) IS
  'Copies the comment of an index, constraint, trigger or policy of one table to its counterpart on another.';

-- copy_sequence_attributes: the privileges granted on sequence p_from (other
-- than its owner's) granted the same way on p_to, and its comment. Locks:
-- those of GRANT and COMMENT ON.
CREATE OR REPLACE FUNCTION @extschema@.copy_sequence_attributes(p_from regclass, p_to regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_grant record;
  v_comment text := pg_catalog.obj_description(p_from, 'pg_class');
BEGIN
  FOR v_grant IN
    SELECT a.privilege_type, a.is_grantable,
           CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END AS grantee
      FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
     WHERE c.oid = p_from AND a.grantee <> c.relowner
  LOOP
    EXECUTE format('GRANT %s ON SEQUENCE %s TO %s%s', v_grant.privilege_type, p_to, v_grant.grantee,
                   CASE WHEN v_grant.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
  END LOOP;
  IF v_comment IS NOT NULL THEN
    EXECUTE format('COMMENT ON SEQUENCE %s IS %L', p_to, v_comment);
  END IF;
END;
$$;
COMMENT ON FUNCTION @extschema@.copy_sequence_attributes(regclass, regclass) IS
  'Grants on one sequence what is granted on another, and copies its comment.';

-- move_owned_sequences: the sequences owned by columns of p_from (serial
-- sequences) become owned by the same-named columns of p_to. The routing view
-- owns its table's serial sequences, so that pg_get_serial_sequence works on
-- the application's name; before that view is dropped they go to the
-- partitioned table (a dropped owner would take them along). Locks: those of
-- ALTER SEQUENCE ... OWNED BY.
CREATE OR REPLACE FUNCTION @extschema@.move_owned_sequences(p_from regclass, p_to regclass)
RETURNS void
LANGUAGE plpgsql
AS $$
DECLARE
  v_sequence record;
BEGIN
  FOR v_sequence IN
    SELECT d.objid::regclass AS sequence, a.attname
      FROM pg_catalog.pg_depend d
      JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
      JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
     WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass
       AND d.refobjid = p_from AND d.deptype = 'a'
       AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute b WHERE b.attrelid = p_to AND b.attname = a.attname AND NOT b.attisdropped)
  LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNED BY %s.%I', v_sequence.sequence, p_to, v_sequence.attname);
  END LOOP;
END;
$$;
COMMENT ON FUNCTION @extschema@.move_owned_sequences(regclass, regclass) IS
  'Moves the ownership of serial sequences from the columns of one relation to those of another.';
