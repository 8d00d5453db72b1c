-- Small keys share (placement policy 'shared'): instead of a level-1
-- partition per key, keys with few rows live together in one pool, the
-- DEFAULT partition of the table, itself LIST-partitioned by the bucket
-- column. Its buckets are shared by all pooled keys and numbered from one
-- ticket sequence, so no pool leaf holds more than the bucket limit either.
--
-- placement:
--   isolated  every key gets its own level-1 partition (the default, and the
--             only behaviour before this migration).
--   shared    keys with a level-1 partition of their own route to it as
--             before; a new key takes a pool ticket: no DDL when a new small
--             key's first row arrives. shared_threshold (rows) is the size
--             from which a key is given its own partition by the migration.
ALTER TABLE @extschema@.partition_config
  ADD COLUMN placement text NOT NULL DEFAULT 'isolated' CHECK (placement IN ('isolated', 'shared')),
  ADD COLUMN shared_threshold bigint CHECK (shared_threshold > 0),
  ADD CONSTRAINT partition_config_placement_threshold_check
    CHECK ((placement = 'shared') = (shared_threshold IS NOT NULL));

-- The pool of a table with placement 'shared': its partition and the state of
-- its ticket counter, like a tracker row for all pooled keys at once.
CREATE TABLE @extschema@.key_pool (
  config_id            int         PRIMARY KEY REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  pool_partition       regclass    NOT NULL,
  ticket_sequence      regclass    NOT NULL,
  current_bucket_id    int         NOT NULL,
  current_leaf         regclass    NOT NULL,
  current_first_ticket bigint      NOT NULL,
  current_capacity     bigint      NOT NULL,
  rows_assigned        bigint      NOT NULL,
  last_updated         timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.key_pool IS
  'Per table whose small keys share: the pool partition (the DEFAULT level-1 partition) and its ticket counter.';

CREATE TABLE @extschema@.pool_bucket (
  config_id       int         NOT NULL REFERENCES @extschema@.key_pool ON DELETE CASCADE,
  bucket_id       int         NOT NULL CHECK (bucket_id >= 0),
  leaf_partition  regclass    NOT NULL,
  first_ticket    bigint      NOT NULL CHECK (first_ticket >= 1),
  capacity        bigint      NOT NULL CHECK (capacity > 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (config_id, bucket_id),
  UNIQUE (config_id, leaf_partition)
);
COMMENT ON TABLE @extschema@.pool_bucket IS
  'One row per bucket of a pool: the leaf that holds it and the pool ticket range it accepts.';

-- A pooled key keeps a tracker row (the Explorer and key actions find it
-- there): level_one_partition names the pool, and it has no buckets or
-- ticket counter of its own, so the current-bucket columns are empty.
ALTER TABLE @extschema@.partition_tracker
  ADD COLUMN in_pool boolean NOT NULL DEFAULT false,
  ALTER COLUMN current_bucket_id DROP NOT NULL,
  ALTER COLUMN current_leaf DROP NOT NULL,
  ALTER COLUMN current_first_ticket DROP NOT NULL,
  ALTER COLUMN current_capacity DROP NOT NULL,
  ADD CONSTRAINT partition_tracker_current_bucket_check
    CHECK (in_pool OR (current_bucket_id IS NOT NULL AND current_leaf IS NOT NULL
                       AND current_first_ticket IS NOT NULL AND current_capacity IS NOT NULL)),
  -- Every pooled key names the pool: a level-1 partition is one key's only
  -- when the key is not pooled.
  DROP CONSTRAINT partition_tracker_config_id_level_one_partition_key;
CREATE UNIQUE INDEX partition_tracker_own_level_one ON @extschema@.partition_tracker (config_id, level_one_partition)
  WHERE NOT in_pool;

-- Findings of maintenance about the pool (maintain_pool) concern no one key.
ALTER TABLE @extschema@.maintenance_finding ALTER COLUMN key_value DROP NOT NULL;
COMMENT ON COLUMN @extschema@.maintenance_finding.key_value IS 'The key the finding is about; NULL: the pool of small keys.';
