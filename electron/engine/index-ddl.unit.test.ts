import { describe, expect, it } from 'vitest';
import type { IndexColumn, IndexInfo } from './catalog.js';
import { createIndexStatement, indexElement, storageParameters, uniqueConstraintClause } from './index-ddl.js';

const column = (overrides: Partial<IndexColumn>): IndexColumn => ({
  column: 'id',
  expression: null,
  collation: null,
  opclass: 'pg_catalog.int8_ops',
  opclassOptions: null,
  opclassDefault: true,
  columnCollation: true,
  descending: false,
  nullsFirst: false,
  ...overrides,
});

const index = (overrides: Partial<IndexInfo>): IndexInfo => ({
  oid: 1,
  name: 'i',
  definition: '',
  isUnique: false,
  isPrimary: false,
  constraintName: null,
  constraintType: null,
  keyColumns: ['id'],
  isValid: true,
  method: 'btree',
  ordered: true,
  columns: [column({})],
  include: [],
  nullsNotDistinct: false,
  reloptions: null,
  tablespace: null,
  predicate: null,
  deferrable: false,
  deferred: false,
  temporal: false,
  comment: null,
  constraintComment: null,
  bytes: 0,
  ...overrides,
});

describe('index DDL from catalog fields', () => {
  it('spells each key element with collation, operator class and its parameters, and order', () => {
    expect(indexElement(column({ column: 'Mixed Case', descending: true }), true)).toBe(
      '"Mixed Case" pg_catalog.int8_ops DESC NULLS LAST',
    );
    expect(indexElement(column({ descending: true, nullsFirst: true }), true)).toBe('"id" pg_catalog.int8_ops DESC');
    expect(indexElement(column({ nullsFirst: true }), true)).toBe('"id" pg_catalog.int8_ops NULLS FIRST');
    // Unordered access methods (gin, gist...) have no DESC or NULLS.
    expect(indexElement(column({ descending: true }), false)).toBe('"id" pg_catalog.int8_ops');
    expect(
      indexElement(
        column({
          column: null,
          expression: 'lower((email)::text)',
          collation: 'pg_catalog."C"',
          opclass: 'pg_catalog.text_pattern_ops',
        }),
        true,
      ),
    ).toBe('lower((email)::text) COLLATE pg_catalog."C" pg_catalog.text_pattern_ops');
    expect(
      indexElement(
        column({ column: 'tsv', opclass: 'pg_catalog.tsvector_ops', opclassOptions: ['siglen=100'] }),
        false,
      ),
    ).toBe(`"tsv" pg_catalog.tsvector_ops ("siglen"='100')`);
  });

  it('keeps INCLUDE, NULLS NOT DISTINCT, storage parameters, tablespace and predicate, in the grammar order', () => {
    const partial = index({
      isUnique: true,
      include: ['note'],
      nullsNotDistinct: true,
      reloptions: ['fillfactor=70', "odd=it's"],
      tablespace: '"fast disk"',
      predicate: '(deleted_at IS NULL)',
    });
    expect(createIndexStatement(partial, 'public.t_partitioned', 'order', ['customer_id', 'bucket_id'])).toBe(
      `CREATE UNIQUE INDEX "order" ON public.t_partitioned USING "btree" ("id" pg_catalog.int8_ops, "customer_id", "bucket_id")` +
        ` INCLUDE ("note") NULLS NOT DISTINCT WITH ("fillfactor"='70', "odd"='it''s') TABLESPACE "fast disk" WHERE (deleted_at IS NULL)`,
    );
    expect(storageParameters(['fillfactor=70'])).toBe(`"fillfactor"='70'`);
  });

  it('keeps a primary key or unique constraint with its options and deferral', () => {
    const primary = index({
      constraintType: 'p',
      include: ['note'],
      reloptions: ['fillfactor=70'],
      deferrable: true,
      deferred: true,
    });
    expect(uniqueConstraintClause(primary, ['id', 'customer_id', 'bucket_id'])).toBe(
      `PRIMARY KEY ("id", "customer_id", "bucket_id") INCLUDE ("note") WITH ("fillfactor"='70') DEFERRABLE INITIALLY DEFERRED`,
    );
    const unique = index({ constraintType: 'u', nullsNotDistinct: true, tablespace: 'space', deferrable: true });
    expect(uniqueConstraintClause(unique, ['a'])).toBe(
      `UNIQUE NULLS NOT DISTINCT ("a") USING INDEX TABLESPACE space DEFERRABLE`,
    );
  });
});
