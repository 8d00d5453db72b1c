-- Two more actions on keys (partwise key move / compact): a key's leaves to
-- another tablespace, and a key's sparse buckets merged into as few as its
-- limit allows. Both are journaled like the others; the Explorer reads a key
-- under either (running, or interrupted and not yet run again) as moving or
-- compacting from this journal, since routing goes on meanwhile and the
-- tracker's state stays active.
ALTER TABLE @extschema@.key_action
  DROP CONSTRAINT key_action_action_check,
  ADD CONSTRAINT key_action_action_check
    CHECK (action IN ('detach', 'attach', 'drop', 'readmit', 'vacuum', 'analyze', 'limit', 'export', 'move', 'compact'));
