-- Unique registries: PostgreSQL enforces a unique index of a partitioned
-- table only with the partition columns in it, so PRIMARY KEY (id) becomes
-- unique per bucket. A registry keeps the original guarantee across the
-- whole table: a plain table in this schema holding the constrained columns
-- of every row, with a real unique index on them named as the original
-- constraint, kept by row triggers on the partitioned table (see
-- sql/functions/23_unique_registry.sql).
CREATE TABLE @extschema@.unique_registry (
  config_id           int     NOT NULL REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  -- The original constraint (or unique index) whose guarantee is kept.
  constraint_name     name    NOT NULL,
  -- The registry table and its unique index, in this schema.
  registry_table      name    NOT NULL UNIQUE,
  registry_index      name    NOT NULL,
  key_columns         name[]  NOT NULL,
  -- The row identity stored beside the key, so that rows changed during the
  -- migration can be found again (indexed until the swap only).
  identity_columns    name[]  NOT NULL,
  nulls_not_distinct  boolean NOT NULL,
  is_deferrable       boolean NOT NULL,
  initially_deferred  boolean NOT NULL,
  -- false while the migration fills it from the original table; true from the
  -- swap on, when the partitioned table's triggers keep it.
  enforced            boolean NOT NULL DEFAULT false,
  PRIMARY KEY (config_id, constraint_name)
);
COMMENT ON TABLE @extschema@.unique_registry IS
  'One row per original PRIMARY KEY or UNIQUE constraint kept unique across a whole partitioned table.';
