// The help text of `partwise`: printed by the small entry (main.ts) without
// loading any command's code.
import { DEFAULT_WORKERS, MAX_WORKERS, RUN_EXTRA_CONNECTIONS } from '../../shared/workers.js';
import { PARTWISE_VERSION } from '../version.js';

export const USAGE = `partwise ${PARTWISE_VERSION}: partition PostgreSQL tables by key and bucket, online.

Usage: partwise <command> [options]

Commands:
  plan       Show what a migration would do (read-only)
  migrate    Migrate tables (asks for confirmation unless --yes)
  status     List runs and their state (interrupted runs included)
  verify     Compare a run's migrated tables with their originals again
  resume     Continue an interrupted run
  pause      Hold a running migration's copy and index work (from any terminal)
  continue   Let a held migration go on
  rollback   Undo a run, bringing back rows written since
  finalize   Drop a run's backups (no rollback after this)
  maintain   Create buckets ahead, repair the tracker, report over-full buckets
  refresh    Rebuild a table's routing view after ALTER TABLE on its partitioned table
  key        Act on keys of a managed table: partwise key ACTION --table T --value V [--value V2 ...]
             detach | attach | drop [--then refuse|recreate] | readmit | vacuum | analyze
             | limit --bucket-limit N|none | export [--format csv|binary] [--out FILE]
             | move --tablespace NAME | compact
             | isolate (a pooled key into a partition of its own) | share (a key into the pool of small keys)
             (detach, drop, move and limit of a pooled key isolate it first, in the same action)
             partwise key history [--table T]: the actions on keys, newest first, and how each ended
             (--dry-run shows the plan: steps, DDL, locks, rows and bytes; detach and drop ask first)
  install    Install or upgrade Partwise's SQL in --schema (migrate and resume do it too)

Target:   --table schema.table --key column --bucket-limit N   (quoted names allowed: '"My Schema"."My Table"')
          --unique NAME=table|bucket   keep a primary key, unique constraint or unique index unique across
                     the whole table (table: the default where a registry can) or per bucket only; repeatable
          --share-below ROWS   plan/migrate: keys with fewer rows share a pool of buckets (one
                     level-1 partition for all of them) instead of a partition each; the plan
                     counts the relations both ways (per target: "shareBelow" in a --config file)
          or --config FILE (JSON {"targets":[{"table","key","bucketLimit","acceptKeylessQueries",
                            "uniqueness":{NAME:"table"},"shareBelow"}]} or lines "table : key : limit")
Options:  --url URL          connection URL, or libpq key=value settings such as "service=prod"
                             (default: PGSERVICE, PG* environment variables and ~/.pgpass)
          --ssh USER@HOST[:PORT]  reach the server through an SSH tunnel via this bastion (host and
                             port of the URL as the bastion sees them); the SSH agent logs in unless
                             --ssh-key is given, or PARTWISE_SSH_PASSWORD is set
          --ssh-key FILE     private key for --ssh (its passphrase from PARTWISE_SSH_PASSPHRASE)
          --ssh-host-key SHA256:...  the bastion's host key fingerprint, when ~/.ssh/known_hosts
                             does not list it
          --ssh-known-hosts FILE     known_hosts file (default ~/.ssh/known_hosts)
          --run N            run id (resume, pause, continue, rollback, finalize, verify, status)
          --exact            plan (and migrate) with exact counts, scanning tables of any size
                             (tables up to 1 GB are counted exactly anyway)
          --ddl              plan: print every DDL statement
          --workers N        parallel worker connections (default ${DEFAULT_WORKERS}, at most ${MAX_WORKERS}); the run
                             holds up to ${RUN_EXTRA_CONNECTIONS} more (control, journal, lock watch)
          --max-rate MB      migrate/resume: read at most MB megabytes per second in the copy and index builds
          --max-standby-lag SIZE  migrate/resume: pause the copy and index builds while a standby's
                             replay lag is over SIZE ("8MB", "1GB"; the role needs pg_monitor)
          --slot NAME        with --max-standby-lag: this replication slot's lag counts too
          --ahead F          maintain: create the next bucket when the current one is F full (default 0.8)
          --lock-timeout MS  longest wait for a lock before retrying (default 1000; raised above the
                             server's deadlock_timeout so that PostgreSQL cancels an autovacuum in the way)
          --schema NAME      schema of Partwise's own objects (default partwise)
          --json             JSON output (JSON lines for progress)
          --yes              do not ask for confirmation
          --accept-keyless   plan/migrate: accept frequent statements that do not filter by the key
                             (they will read every leaf; recorded with the run)
  -h, --help`;
