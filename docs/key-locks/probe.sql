\set t random(1, 60)
BEGIN;
INSERT INTO events (tenant_id, kind, payload) VALUES (:t, 'probe', 'x');
SELECT count(*) FROM events WHERE tenant_id = :t AND created_at > now() - interval '1 second';
COMMIT;
