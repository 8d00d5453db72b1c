// The data the journey works on: a multi-tenant event table whose tenants are
// strongly skewed (tenant 1 holds about a quarter of the rows, tenant 60 a
// few hundred), with a primary key and an index, owned by an ordinary login
// role. Tenant ids 1..60 sort differently as text ("10" before "2"), which is
// what the Explorer's and Tracker's key order is checked against.
//
// A second table, tenant_notes, has rows without a tenant: planning it
// reports a blocker (NULL keys) so that the Plan screen's blocked state is
// seen with real data.
import type pg from 'pg';

export const APP_ROLE = 'partwise_app';
export const EVENTS_TABLE = 'tenant_events';
export const NOTES_TABLE = 'tenant_notes';
export const KEY_COLUMN = 'tenant_id';
export const EVENT_ROWS = 40_000;
export const TENANTS = 60;

export const SEED_SQL = [
  `CREATE TABLE public.${EVENTS_TABLE} (
     id bigserial PRIMARY KEY,
     ${KEY_COLUMN} int NOT NULL,
     kind text NOT NULL,
     payload text,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  // u = frac(g * golden ratio) is spread evenly over [0, 1); u^3 crowds it
  // towards 0, so low tenant ids get most rows. Deterministic: every run and
  // every machine seeds the same rows.
  `INSERT INTO public.${EVENTS_TABLE} (${KEY_COLUMN}, kind, payload, created_at)
   SELECT 1 + floor(${TENANTS} * power((g * 0.6180339887498949) % 1, 3))::int,
          (ARRAY['login', 'order', 'refund', 'export'])[1 + g % 4],
          repeat(md5(g::text), 2),
          timestamptz '2026-01-01' + g * interval '1 minute'
     FROM generate_series(1, ${EVENT_ROWS}) AS g`,
  `CREATE INDEX ${EVENTS_TABLE}_tenant_created_idx ON public.${EVENTS_TABLE} (${KEY_COLUMN}, created_at)`,
  `CREATE TABLE public.${NOTES_TABLE} (
     id bigserial PRIMARY KEY,
     ${KEY_COLUMN} int,
     note text NOT NULL
   )`,
  `INSERT INTO public.${NOTES_TABLE} (${KEY_COLUMN}, note)
   SELECT CASE WHEN g % 20 = 0 THEN NULL ELSE 1 + g % ${TENANTS} END, 'note ' || g
     FROM generate_series(1, 2000) AS g`,
  `ANALYZE public.${EVENTS_TABLE}, public.${NOTES_TABLE}`,
];

export async function seed(client: pg.ClientBase): Promise<void> {
  for (const statement of SEED_SQL) await client.query(statement);
}
