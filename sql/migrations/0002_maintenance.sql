-- Findings of the maintain procedure, kept so that the app and psql users can
-- read what the last maintenance run found.
CREATE TABLE @extschema@.maintenance_finding (
  finding_id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  found_at        timestamptz NOT NULL DEFAULT now(),
  config_id       int         NOT NULL REFERENCES @extschema@.partition_config ON DELETE CASCADE,
  key_value       text        NOT NULL,
  kind            text        NOT NULL,
  bucket_id       int,
  leaf_partition  text,
  row_count       bigint,
  capacity        bigint,
  detail          text
);
CREATE INDEX ON @extschema@.maintenance_finding (config_id, found_at);
COMMENT ON TABLE @extschema@.maintenance_finding IS
  'What maintenance found per key: missing, untracked, over-full and empty buckets, repaired drift.';
