-- ensure_ticket_sequence: the per-key ticket counter, created on the first
-- routed insert of a key so that a migration does not pay for one relation per
-- key up front. It starts after the tickets already handed out (rows_assigned).
-- Locks: the key's tracker row (FOR UPDATE) until the end of the transaction,
-- once per key.
CREATE OR REPLACE FUNCTION @extschema@.ensure_ticket_sequence(p_config_id int, p_key_value text)
RETURNS @extschema@.partition_tracker
LANGUAGE plpgsql
AS $$
DECLARE
  v_tracker @extschema@.partition_tracker;
  v_sequence text;
BEGIN
  SELECT * INTO STRICT v_tracker FROM @extschema@.partition_tracker
   WHERE config_id = p_config_id AND key_value = p_key_value
     FOR UPDATE;
  IF v_tracker.ticket_sequence IS NOT NULL THEN
    RETURN v_tracker;
  END IF;
  v_sequence := 'ticket_' || v_tracker.key_id;
  EXECUTE format('CREATE SEQUENCE IF NOT EXISTS @extschema@.%I AS bigint START WITH %s MINVALUE 1',
                 v_sequence, v_tracker.rows_assigned + 1);
  UPDATE @extschema@.partition_tracker
     SET ticket_sequence = format('@extschema@.%I', v_sequence)::regclass
   WHERE config_id = p_config_id AND key_value = p_key_value
  RETURNING * INTO v_tracker;
  RETURN v_tracker;
END;
$$;
COMMENT ON FUNCTION @extschema@.ensure_ticket_sequence(int, text) IS
  'Ticket counter of a key, created on first use.';
