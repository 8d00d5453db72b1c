-- partwise key isolate and share (sql/functions/18_key_isolate.sql) are
-- journaled like the other key actions.
ALTER TABLE @extschema@.key_action
  DROP CONSTRAINT key_action_action_check,
  ADD CONSTRAINT key_action_action_check
    CHECK (action IN ('detach', 'attach', 'drop', 'readmit', 'vacuum', 'analyze', 'limit', 'export', 'move', 'compact',
                      'isolate', 'share'));
