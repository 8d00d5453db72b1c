import { describe, expect, it } from 'vitest';
import { parseIndexDefinition } from './index-ddl.js';

describe('parseIndexDefinition', () => {
  it('splits key lists with expressions, quotes and trailing clauses', () => {
    expect(parseIndexDefinition('CREATE INDEX orders_created_idx ON public.orders USING btree (created_at)')).toEqual({
      unique: false,
      method: 'btree',
      keys: 'created_at',
      rest: '',
    });
    expect(
      parseIndexDefinition(
        `CREATE UNIQUE INDEX "odd (name)" ON "My Schema"."My Table" USING btree (lower((email)::text), "we(ird" DESC) INCLUDE (note) WHERE (deleted_at IS NULL)`,
      ),
    ).toEqual({
      unique: true,
      method: 'btree',
      keys: 'lower((email)::text), "we(ird" DESC',
      rest: ' INCLUDE (note) WHERE (deleted_at IS NULL)',
    });
    expect(
      parseIndexDefinition(`CREATE INDEX i ON ONLY public.t USING gin (data jsonb_path_ops) WHERE (kind = ')')`).keys,
    ).toBe('data jsonb_path_ops');
  });

  it('refuses what it does not understand', () => {
    expect(() => parseIndexDefinition('CREATE INDEX broken ON t USING btree (a')).toThrow('unbalanced');
    expect(() => parseIndexDefinition('not an index')).toThrow('unexpected index definition');
  });
});
