import { describe, expect, it } from 'vitest';
import {
  bracketToVmfsPath,
  parseBracketPath,
  resolveAgainstVmx,
  splitVmfsPath,
  toVmfsPath,
  vmfsToBracketPath,
} from '../../src/esx/datastore-path.js';
import { catchVcbError } from './catch-error.js';

describe('datastore paths', () => {
  it.each([
    ['[datastore1] web 01/web 01.vmx', '/vmfs/volumes/datastore1/web 01/web 01.vmx'],
    ['[san lun 2] a/b/c.vmx', '/vmfs/volumes/san lun 2/a/b/c.vmx'],
    ['[ds]x.vmx', '/vmfs/volumes/ds/x.vmx'],
    ['[Bücher] x; touch /tmp/p/x.vmx', '/vmfs/volumes/Bücher/x; touch /tmp/p/x.vmx'],
  ])('%s <-> %s', (bracket, absolute) => {
    expect(bracketToVmfsPath(bracket)).toBe(absolute);
  });

  it('formats the bracket form back', () => {
    expect(vmfsToBracketPath('/vmfs/volumes/datastore1/web 01/web 01.vmx')).toBe('[datastore1] web 01/web 01.vmx');
    expect(vmfsToBracketPath('/vmfs/volumes/datastore1')).toBe('[datastore1]');
    expect(splitVmfsPath('/etc/passwd')).toBeUndefined();
    expect(parseBracketPath('[ds] /a.vmx')).toEqual({ datastore: 'ds', path: 'a.vmx' });
  });

  it('resolves disk fileNames against the .vmx directory', () => {
    const vmx = '/vmfs/volumes/ds/web 01/web 01.vmx';
    expect(resolveAgainstVmx(vmx, 'web 01.vmdk')).toBe('/vmfs/volumes/ds/web 01/web 01.vmdk');
    expect(resolveAgainstVmx(vmx, '../shared/d.vmdk')).toBe('/vmfs/volumes/ds/shared/d.vmdk');
    expect(resolveAgainstVmx(vmx, '/vmfs/volumes/other/d.vmdk')).toBe('/vmfs/volumes/other/d.vmdk');
    expect(resolveAgainstVmx(vmx, '[other] d/d.vmdk')).toBe('/vmfs/volumes/other/d/d.vmdk');
    expect(resolveAgainstVmx('[ds] web 01/web 01.vmx', 'x.vmdk')).toBe('/vmfs/volumes/ds/web 01/x.vmdk');
  });

  it('rejects what is neither form', () => {
    expect(catchVcbError(() => toVmfsPath('relative/x.vmx')).code).toBe('USAGE');
    expect(catchVcbError(() => vmfsToBracketPath('/tmp/x')).code).toBe('USAGE');
    expect(catchVcbError(() => parseBracketPath('ds/x.vmx')).code).toBe('USAGE');
  });
});
