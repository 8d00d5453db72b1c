-- Bootstrap of the install schema: what the installer needs to know which
-- migrations ran. Idempotent; runs before every install or upgrade.
CREATE SCHEMA IF NOT EXISTS @extschema@;
COMMENT ON SCHEMA @extschema@ IS 'Partwise: metadata, routing and migration journal of partitioned tables.';

CREATE TABLE IF NOT EXISTS @extschema@.schema_migrations (
  name        text        PRIMARY KEY,
  applied_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.schema_migrations IS 'Migration files of sql/migrations applied to this schema.';

CREATE TABLE IF NOT EXISTS @extschema@.installation (
  singleton     boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
  version       text        NOT NULL,
  installed_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.installation IS 'The Partwise version whose SQL is installed in this schema.';

-- Recorded since installations refuse edited migrations and newer SQL
-- (electron/infra/install.ts); rows applied earlier get theirs on the next install.
ALTER TABLE @extschema@.schema_migrations ADD COLUMN IF NOT EXISTS checksum text;
COMMENT ON COLUMN @extschema@.schema_migrations.checksum IS 'sha256 of the migration file as applied.';
ALTER TABLE @extschema@.installation ADD COLUMN IF NOT EXISTS sql_checksum text;
COMMENT ON COLUMN @extschema@.installation.sql_checksum IS 'sha256 of the functions of sql/functions as installed.';
