-- A running migration held by a user (partwise pause, the run monitor's Pause):
-- its copy and index work waits, holding no snapshot, until someone continues
-- it. Kept in the journal so that any process (the app, another command line)
-- can pause a run that another process is working on.
ALTER TABLE @extschema@.migration_run
  ADD COLUMN paused_at timestamptz,
  ADD COLUMN paused_by name;
COMMENT ON COLUMN @extschema@.migration_run.paused_at IS 'Set while a user holds the run''s copy and index work; null otherwise.';
