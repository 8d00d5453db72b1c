import { describe, expect, it } from 'vitest';
import { splitName } from './ObjectName';

describe('splitName', () => {
  it('keeps the distinguishing end of names that share a stem, whole words where it can', () => {
    // The two parts of a managed table once looked alike: custom_module_data_bac... and ..._par...
    expect(splitName('custom_module_data_backup')).toEqual(['custom_', 'module_data_backup']);
    expect(splitName('custom_module_data_partitioned')).toEqual(['custom_module_', 'data_partitioned']);
    // A leaf: the key and the bucket are in the tail.
    expect(splitName('custom_module_data_customer_id_1037_bucket_id_6')).toEqual([
      'custom_module_data_',
      'customer_id_1037_bucket_id_6',
    ]);
  });

  it('cuts a known stem first, whatever its length', () => {
    expect(splitName('tenant_events_partitioned', undefined, 'tenant_events')).toEqual([
      'tenant_events',
      '_partitioned',
    ]);
    expect(splitName('other_table', undefined, 'tenant_events')).toEqual(['other_', 'table']);
  });

  it('splits names without separators at a fixed share', () => {
    expect(splitName('abcdefghijklmnopqrst')).toEqual(['abcdefghijk', 'lmnopqrst']);
    expect(splitName('')).toEqual(['', '']);
  });
});
