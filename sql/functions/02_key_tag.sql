-- key_tag(value, hash_length): the part of a level-1 partition name that stands
-- for a key value. Values made only of lower-case ASCII letters and digits (up to
-- 20 of them) are used as they are: `orders_customer_id_123`. Any other value
-- (signs, spaces, quotes, capitals, unicode, the empty string, long values) becomes
-- a readable sanitized prefix plus a hash of the exact value:
-- `orders_customer_id_o_brien_3f2a...`. A plain tag never contains `_` and a hashed
-- one always does, so the two forms cannot collide. Immutable; no locks.
CREATE OR REPLACE FUNCTION @extschema@.key_tag(p_value text, p_hash_length int DEFAULT 12)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
  SELECT CASE
    WHEN p_value ~ '^[a-z0-9]{1,20}$' THEN p_value
    ELSE left(trim(BOTH '_' FROM regexp_replace(lower(p_value), '[^a-z0-9]+', '_', 'g')), 20)
         || '_' || left(md5(p_value), p_hash_length)
  END
$$;
COMMENT ON FUNCTION @extschema@.key_tag(text, int) IS
  'Name fragment for a key value: the value itself when plain, else sanitized text plus a hash.';
