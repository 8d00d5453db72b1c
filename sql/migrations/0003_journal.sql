-- The migration journal: every run, target, step and the rows copied so far,
-- written as the work happens, so that a run killed at any moment (kill -9, power loss)
-- is found at the next start and can be resumed or rolled back.

CREATE TABLE @extschema@.migration_run (
  run_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- running while a process works on it (it holds the run's advisory lock);
  -- a running run whose lock nobody holds was interrupted.
  status             text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'succeeded', 'failed', 'rolled_back', 'cancelled', 'finalized')),
  options            jsonb       NOT NULL DEFAULT '{}',
  partwise_version   text        NOT NULL,
  started_by         name        NOT NULL DEFAULT current_user,
  started_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  finished_at        timestamptz,
  error              text
);
COMMENT ON TABLE @extschema@.migration_run IS 'One row per migration run (partwise migrate).';

CREATE TABLE @extschema@.migration_target (
  run_id             bigint      NOT NULL REFERENCES @extschema@.migration_run ON DELETE CASCADE,
  target_no          int         NOT NULL,
  table_schema       name        NOT NULL,
  table_name         name        NOT NULL,
  key_column         name        NOT NULL,
  bucket_column      name        NOT NULL,
  bucket_limit       bigint      NOT NULL CHECK (bucket_limit > 0),
  -- Names of what this run creates; rollback touches nothing else.
  partitioned_table  name        NOT NULL,
  backup_table       name        NOT NULL,
  config_id          int,
  phase              text        NOT NULL DEFAULT 'prepare',
  status             text        NOT NULL DEFAULT 'pending'
                                 CHECK (status IN ('pending', 'running', 'done', 'failed', 'rolled_back', 'finalized')),
  -- Definitions captured from the original table before the swap (views,
  -- grants, triggers, policies, sequences...), needed to rebuild them on the
  -- new table and to put them back on rollback.
  saved              jsonb       NOT NULL DEFAULT '{}',
  rows_total         bigint,
  rows_copied        bigint      NOT NULL DEFAULT 0,
  keys_total         int,
  -- Change-log entries applied to the new table so far.
  changes_applied    bigint      NOT NULL DEFAULT 0,
  cutover_at         timestamptz,
  started_at         timestamptz,
  finished_at        timestamptz,
  error              text,
  PRIMARY KEY (run_id, target_no),
  UNIQUE (run_id, table_schema, table_name)
);
COMMENT ON TABLE @extschema@.migration_target IS 'Each table of a run, its phase and what the run created for it.';

CREATE TABLE @extschema@.migration_step (
  step_id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id             bigint      NOT NULL,
  target_no          int         NOT NULL,
  phase              text        NOT NULL,
  started_at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  finished_at        timestamptz,
  detail             jsonb       NOT NULL DEFAULT '{}',
  FOREIGN KEY (run_id, target_no) REFERENCES @extschema@.migration_target ON DELETE CASCADE
);
CREATE INDEX ON @extschema@.migration_step (run_id, target_no);
COMMENT ON TABLE @extschema@.migration_step IS 'When each phase of each target started and ended, with its figures.';

CREATE TABLE @extschema@.migration_log (
  log_id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  run_id             bigint      NOT NULL REFERENCES @extschema@.migration_run ON DELETE CASCADE,
  target_no          int,
  logged_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  level              text        NOT NULL CHECK (level IN ('debug', 'info', 'warn', 'error')),
  message            text        NOT NULL
);
CREATE INDEX ON @extschema@.migration_log (run_id, log_id);
COMMENT ON TABLE @extschema@.migration_log IS 'What a run reported, kept for the run history.';
