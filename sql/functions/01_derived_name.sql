-- derived_name(base, suffix): base || suffix when it fits PostgreSQL's 63-byte
-- identifier limit; otherwise base is cut (on a character boundary) and tagged
-- with a hash of the whole base, so that two long names that share a prefix
-- still differ. Deterministic; takes no locks.
CREATE OR REPLACE FUNCTION @extschema@.derived_name(p_base text, p_suffix text)
RETURNS name
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
  v_tag  text := '_' || left(md5(p_base), 8);
  v_room int  := 63 - octet_length(p_suffix) - octet_length(v_tag);
  v_cut  text := p_base;
BEGIN
  IF octet_length(p_base || p_suffix) <= 63 THEN
    RETURN (p_base || p_suffix)::name;
  END IF;
  IF v_room < 1 THEN
    RAISE EXCEPTION 'partwise: name suffix "%" is too long', p_suffix;
  END IF;
  -- Cut characters until the bytes fit, so that no multibyte character is split.
  v_cut := left(p_base, v_room);
  WHILE octet_length(v_cut) > v_room LOOP
    v_cut := left(v_cut, -1);
  END LOOP;
  RETURN (v_cut || v_tag || p_suffix)::name;
END;
$$;
COMMENT ON FUNCTION @extschema@.derived_name(text, text) IS
  'Name made of base and suffix within 63 bytes; long bases are cut and tagged with a hash.';
