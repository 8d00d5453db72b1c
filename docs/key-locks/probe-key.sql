\set id random(1, 1000000)
BEGIN;
UPDATE events SET kind = 'probe' WHERE tenant_id = 1 AND id = :id;
SELECT count(*) FROM events WHERE tenant_id = 1 AND id BETWEEN :id AND :id + 10;
INSERT INTO events (tenant_id, kind, payload) VALUES (1, 'probe', 'x');
COMMIT;
