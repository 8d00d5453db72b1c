-- Partition metadata: what each partitioned table is configured as, and where
-- every key value and bucket lives, so that no tool ever parses a partition name.
-- Partitions are referenced as regclass (their OID): renaming one keeps the
-- mapping, and the routing trigger can lock a leaf without a name lookup.

CREATE TABLE @extschema@.partition_config (
  config_id          int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  table_schema       name        NOT NULL,
  -- The name the application uses. Once routing is installed it is a view
  -- over partitioned_table whose INSTEAD OF INSERT trigger assigns buckets.
  table_name         name        NOT NULL,
  partitioned_table  name        NOT NULL,
  key_column         name        NOT NULL,
  bucket_column      name        NOT NULL DEFAULT 'bucket_id',
  bucket_limit       bigint      NOT NULL CHECK (bucket_limit > 0),
  -- Stem of every partition name of this table (`<table>_<key column>`).
  name_stem          text        NOT NULL,
  -- Storage parameters (fillfactor, autovacuum_*) given to every leaf, as the
  -- original table had them: a partitioned table has no storage of its own.
  leaf_options       text[],
  -- building: the tree is being created or loaded, no routing yet.
  -- routing:  the view and its trigger route the application's inserts.
  mode               text        NOT NULL DEFAULT 'building'
                                 CHECK (mode IN ('building', 'routing')),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  UNIQUE (table_schema, table_name),
  UNIQUE (table_schema, partitioned_table)
);
COMMENT ON TABLE @extschema@.partition_config IS
  'One row per table managed by Partwise: its key column, bucket limit and routing mode.';

CREATE TABLE @extschema@.partition_tracker (
  config_id            int         NOT NULL REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  key_value            text        NOT NULL,
  key_id               bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
  level_one_partition  regclass    NOT NULL,
  -- Tickets are numbered per key from 1; ticket n goes to the bucket whose
  -- range [first_ticket, first_ticket + capacity) contains it. The counter is
  -- a sequence (non-transactional), so concurrent writers of one key never wait
  -- on each other; it is created on the first routed insert of the key.
  ticket_sequence      regclass,
  current_bucket_id    int         NOT NULL,
  current_leaf         regclass    NOT NULL,
  current_first_ticket bigint      NOT NULL,
  current_capacity     bigint      NOT NULL,
  -- Tickets handed out when this row was last written (bucket opened,
  -- migration, maintenance). The live figure is in the tracker_status view.
  rows_assigned        bigint      NOT NULL,
  last_updated         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (config_id, key_value),
  UNIQUE (config_id, level_one_partition)
);
COMMENT ON TABLE @extschema@.partition_tracker IS
  'One row per key value: its level-1 partition, current bucket and ticket counter.';

CREATE TABLE @extschema@.partition_bucket (
  config_id       int         NOT NULL,
  key_value       text        NOT NULL,
  bucket_id       int         NOT NULL CHECK (bucket_id >= 0),
  leaf_partition  regclass    NOT NULL,
  first_ticket    bigint      NOT NULL CHECK (first_ticket >= 1),
  capacity        bigint      NOT NULL CHECK (capacity > 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (config_id, key_value, bucket_id),
  UNIQUE (config_id, leaf_partition),
  FOREIGN KEY (config_id, key_value) REFERENCES @extschema@.partition_tracker ON DELETE CASCADE
);
COMMENT ON TABLE @extschema@.partition_bucket IS
  'One row per bucket: the leaf partition that holds it and the ticket range it accepts.';
