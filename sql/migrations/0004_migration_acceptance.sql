-- What a user accepted when starting a run despite a plan blocker that can be
-- accepted (today: frequent statements that do not filter by the key), by
-- whom and when, with what was accepted: the statements and the measured cost
-- as the plan saw them when the run prepared the table.
CREATE TABLE @extschema@.migration_acceptance (
  run_id       bigint      NOT NULL,
  target_no    int         NOT NULL,
  code         text        NOT NULL,
  accepted_by  name        NOT NULL DEFAULT current_user,
  accepted_at  timestamptz NOT NULL DEFAULT now(),
  detail       jsonb       NOT NULL DEFAULT '{}',
  PRIMARY KEY (run_id, target_no, code),
  FOREIGN KEY (run_id, target_no) REFERENCES @extschema@.migration_target ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.migration_acceptance IS
  'Plan blockers a user accepted for a run (e.g. keyless_queries), with what the plan showed at the time.';
