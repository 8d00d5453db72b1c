-- Keys as objects a DBA acts on (partwise key ...): each key's state and
-- bucket limit, the keys dropped and what a later row of such a key meets,
-- and a journal of the actions taken on keys.

-- state of a key:
--   active     its level-1 partition is in the tree; routing places its rows.
--   detaching  a detach (or the detach step of a drop) is under way.
--   detached   its level-1 partition is a standalone table (level_one_partition
--              still names it); routing refuses its rows until it is attached.
--   attaching  an attach is under way.
--   dropping   a drop is under way (detached, then dropped).
-- Routing refuses rows of every key that is not active (assign_bucket).
ALTER TABLE @extschema@.partition_tracker
  ADD COLUMN state text NOT NULL DEFAULT 'active'
             CHECK (state IN ('active', 'detaching', 'detached', 'attaching', 'dropping')),
  ADD COLUMN state_changed_at timestamptz,
  -- A bucket limit of this key alone (a very large tenant), used for buckets
  -- opened from when it is set; NULL: the table's limit.
  ADD COLUMN bucket_limit bigint CHECK (bucket_limit > 0);

-- A key whose partitions were dropped (partwise key drop). Its tracker and
-- bucket rows went with them; this row says what a later row of the key meets:
-- refuse (an error naming the table and key) or recreate (new partitions, as
-- for a key never seen; this row is then deleted).
CREATE TABLE @extschema@.retired_key (
  config_id     int         NOT NULL REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  key_value     text        NOT NULL,
  on_insert     text        NOT NULL CHECK (on_insert IN ('refuse', 'recreate')),
  rows_dropped  bigint      NOT NULL,
  bytes_dropped bigint      NOT NULL,
  retired_by    name        NOT NULL DEFAULT current_user,
  retired_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (config_id, key_value)
);
COMMENT ON TABLE @extschema@.retired_key IS
  'Keys whose partitions were dropped, and whether a later row of the key is refused or recreates them.';

-- The key-action journal: one row per action on one key, written as the work
-- happens. The process working on it holds a session advisory lock on the
-- (table, key); a running action whose lock nobody holds was interrupted, and
-- running the same action again continues from the key's recorded state.
CREATE TABLE @extschema@.key_action (
  action_id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  config_id        int         NOT NULL REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  table_schema     name        NOT NULL,
  table_name       name        NOT NULL,
  key_value        text        NOT NULL,
  action           text        NOT NULL
                               CHECK (action IN ('detach', 'attach', 'drop', 'readmit', 'vacuum', 'analyze', 'limit', 'export')),
  status           text        NOT NULL DEFAULT 'running'
                               CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
  -- The last step reached (see electron/engine/keys/steps.ts).
  step             text        NOT NULL DEFAULT 'start',
  options          jsonb       NOT NULL DEFAULT '{}',
  -- Figures of the action (rows, bytes, leaves, file written...).
  detail           jsonb       NOT NULL DEFAULT '{}',
  partwise_version text        NOT NULL,
  started_by       name        NOT NULL DEFAULT current_user,
  started_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now(),
  finished_at      timestamptz,
  error            text
);
CREATE INDEX ON @extschema@.key_action (config_id, key_value, action_id);
COMMENT ON TABLE @extschema@.key_action IS 'One row per action on one key (partwise key ...): its steps, figures and outcome.';
