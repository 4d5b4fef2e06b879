// restore --drill's pure parts: the temporary name, the flags refused with it, the network cards it disconnects.

import { describe, expect, test } from 'vitest';
import { drillConflict, drillName } from '../../src/restore/drill.js';
import { disconnectedNics, editVmx } from '../../src/restore/vmx-rewrite.js';

describe('drillName', () => {
  test('NAME-drill-YYYYMMDD-HHMMSS in UTC', () => {
    expect(drillName('web 01', new Date('2025-03-01T03:15:09.123Z'))).toBe('web 01-drill-20250301-031509');
  });
});

describe('drillConflict', () => {
  const base = { drill: true, policy: 'fail' as const, name: undefined, powerOn: false };
  test.each([
    [{ policy: 'overwrite' as const }, /-b overwrite/],
    [{ policy: 'rename' as const }, /-b rename/],
    [{ name: 'x' }, /--name/],
    [{ powerOn: true }, /--power-on/],
  ])('%j is refused', (change, message) => {
    expect(drillConflict({ ...base, ...change })).toMatch(message);
  });
  test('a plain drill, and any flags without --drill, are fine', () => {
    expect(drillConflict(base)).toBeUndefined();
    expect(drillConflict({ drill: false, policy: 'overwrite', name: 'x', powerOn: true })).toBeUndefined();
  });
});

describe('disconnectedNics', () => {
  test('every card with a present key starts disconnected; the rest of the .vmx stays byte for byte', () => {
    const vmx = 'displayName = "web"\nethernet0.present = "TRUE"\nethernet0.startConnected = "TRUE"\nEthernet1.Present = "TRUE"\nscsi0:0.fileName = "web.vmdk"\n';
    const set = disconnectedNics(vmx);
    expect(set).toEqual({ 'ethernet0.startConnected': 'FALSE', 'Ethernet1.startConnected': 'FALSE' });
    expect(editVmx(vmx, { set, remove: [] })).toBe(
      'displayName = "web"\nethernet0.present = "TRUE"\nethernet0.startConnected = "FALSE"\nEthernet1.Present = "TRUE"\nscsi0:0.fileName = "web.vmdk"\nEthernet1.startConnected = "FALSE"\n',
    );
    expect(disconnectedNics('displayName = "no network"\n')).toEqual({});
  });
});
