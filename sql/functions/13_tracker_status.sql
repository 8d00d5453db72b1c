-- tracker_status: the tracker with live figures. rows_assigned in
-- partition_tracker is written only when a bucket opens (writing it on every
-- insert would serialize writers); the live count is the ticket sequence.
CREATE OR REPLACE VIEW @extschema@.tracker_status AS
SELECT c.config_id,
       c.table_schema,
       c.table_name,
       c.key_column,
       c.bucket_limit,
       t.key_value,
       t.level_one_partition,
       t.current_bucket_id,
       t.current_leaf,
       t.current_capacity,
       s.rows_assigned,
       greatest(least(s.rows_assigned - t.current_first_ticket + 1, t.current_capacity), 0) AS current_bucket_assigned,
       t.last_updated,
       -- A pooled key (17_key_pool.sql): no bucket of its own; level_one_partition is the pool.
       t.in_pool
  FROM @extschema@.partition_tracker t
  JOIN @extschema@.partition_config c USING (config_id)
  CROSS JOIN LATERAL (
    SELECT greatest(t.rows_assigned,
                    coalesce(CASE WHEN t.ticket_sequence IS NOT NULL
                                  THEN pg_catalog.pg_sequence_last_value(t.ticket_sequence) END, 0)) AS rows_assigned
  ) s;
COMMENT ON VIEW @extschema@.tracker_status IS
  'Per key: current bucket, tickets handed out (live) and how full the current bucket is.';
