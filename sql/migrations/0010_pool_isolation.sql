-- Isolating a pooled key (partwise key isolate, sql/functions/18_key_isolate.sql)
-- attaches a level-1 partition for it while the pool (the DEFAULT partition)
-- exists, and PostgreSQL then scans every pool leaf under ACCESS EXCLUSIVE
-- unless a validated CHECK constraint of the leaf already proves it holds no
-- row of the key. A closed pool bucket (every ticket of its range handed out)
-- receives no new row, so it can carry such a constraint: the keys it holds.
-- keys: those keys (canonical text, as partition_tracker.key_value), set once
-- the constraint partwise_pool_keys of the leaf is validated; NULL while the
-- bucket is open or not yet constrained.
ALTER TABLE @extschema@.pool_bucket ADD COLUMN keys text[];
COMMENT ON COLUMN @extschema@.pool_bucket.keys IS
  'Keys the leaf''s validated CHECK constraint partwise_pool_keys allows (a closed bucket); NULL: no such constraint.';

ALTER TABLE @extschema@.key_action
  DROP CONSTRAINT key_action_action_check,
  ADD CONSTRAINT key_action_action_check
    CHECK (action IN ('detach', 'attach', 'drop', 'readmit', 'vacuum', 'analyze', 'limit', 'export', 'move', 'compact',
                      'isolate', 'share'));
