import { describe, expect, it } from 'vitest';
import { stockCmd } from '../../src/esx/commands/stock.js';
import { vimCmd } from '../../src/esx/commands/vim-cmd.js';
import { vmwareCmd } from '../../src/esx/commands/vmware-cmd.js';
import { shellJoin } from '../../src/util/shell-quote.js';
import { catchVcbError } from './catch-error.js';

const HOSTILE = ['x; touch /tmp/p', `it's "quoted"`, '$(id)', '`id`', 'two  spaces ', 'Bücher ü 日本', '-rf', 'a\nb', ''];

describe('vim-cmd builders', () => {
  it('build the documented argv', () => {
    expect(vimCmd.getAllVms()).toEqual(['vim-cmd', 'vmsvc/getallvms']);
    expect(vimCmd.powerGetState('12')).toEqual(['vim-cmd', 'vmsvc/power.getstate', '12']);
    expect(vimCmd.getSummary('12')).toEqual(['vim-cmd', 'vmsvc/get.summary', '12']);
    expect(vimCmd.snapshotGet('12')).toEqual(['vim-cmd', 'vmsvc/snapshot.get', '12']);
    expect(vimCmd.snapshotCreate('12', 'n', 'd', false, true)).toEqual(['vim-cmd', 'vmsvc/snapshot.create', '12', 'n', 'd', '0', '1']);
    expect(vimCmd.snapshotCreate('12', 'n', 'd', true, false)).toEqual(['vim-cmd', 'vmsvc/snapshot.create', '12', 'n', 'd', '1', '0']);
    expect(vimCmd.snapshotRemove('12', '5')).toEqual(['vim-cmd', 'vmsvc/snapshot.remove', '12', '5']);
    expect(vimCmd.snapshotRemove('12')).toEqual(['vim-cmd', 'vmsvc/snapshot.remove', '12']);
    expect(vimCmd.snapshotRemoveAll('12')).toEqual(['vim-cmd', 'vmsvc/snapshot.removeall', '12']);
    expect(vimCmd.snapshotConsolidate('12')).toEqual(['vim-cmd', 'vmsvc/snapshot.consolidate', '12']);
    expect(vimCmd.registerVm('/vmfs/volumes/ds/a b/a b.vmx')).toEqual(['vim-cmd', 'solo/registervm', '/vmfs/volumes/ds/a b/a b.vmx']);
  });

  it.each(HOSTILE)('keeps snapshot name and description %j as single elements', (text) => {
    const argv = vimCmd.snapshotCreate('7', text, `${text} desc`, false, false);
    expect(argv).toHaveLength(7);
    expect(argv[3]).toBe(text);
    expect(argv[4]).toBe(`${text} desc`);
  });

  it('rejects a vmid that is not a number (e.g. a vmx path given by mistake)', () => {
    for (const bad of ['', '12; id', '/vmfs/volumes/ds/a.vmx', '-1']) {
      expect(catchVcbError(() => vimCmd.powerGetState(bad)).code).toBe('USAGE');
    }
    expect(catchVcbError(() => vimCmd.snapshotRemove('12', 'abc')).code).toBe('USAGE');
  });
});

describe('vmware-cmd builders', () => {
  const vmx = '/vmfs/volumes/ds/x; touch /tmp/p/x.vmx';

  it('build the documented argv', () => {
    expect(vmwareCmd.list()).toEqual(['vmware-cmd', '-l']);
    expect(vmwareCmd.getState(vmx)).toEqual(['vmware-cmd', vmx, 'getstate']);
    expect(vmwareCmd.createSnapshot(vmx, 'n', 'd', true, false)).toEqual(['vmware-cmd', vmx, 'createsnapshot', 'n', 'd', '1', '0']);
    expect(vmwareCmd.createSnapshot(vmx, 'n', 'd', false, true)).toEqual(['vmware-cmd', vmx, 'createsnapshot', 'n', 'd', '0', '1']);
    expect(vmwareCmd.hasSnapshot(vmx)).toEqual(['vmware-cmd', vmx, 'hassnapshot']);
    expect(vmwareCmd.removeSnapshots(vmx)).toEqual(['vmware-cmd', vmx, 'removesnapshots']);
    expect(vmwareCmd.getConfig(vmx, 'uuid.bios')).toEqual(['vmware-cmd', vmx, 'getconfig', 'uuid.bios']);
    expect(vmwareCmd.register(vmx)).toEqual(['vmware-cmd', '-s', 'register', vmx]);
    expect(vmwareCmd.stop(vmx, 'trysoft')).toEqual(['vmware-cmd', vmx, 'stop', 'trysoft']);
  });

  it.each(HOSTILE)('keeps %j as one element', (text) => {
    const argv = vmwareCmd.createSnapshot(vmx, text, text, false, false);
    expect(argv.slice(3, 5)).toEqual([text, text]);
    expect(argv).toHaveLength(7);
  });

  it('refuses a relative .vmx path that could read as an option', () => {
    expect(catchVcbError(() => vmwareCmd.getState('-l')).code).toBe('USAGE');
    expect(catchVcbError(() => stockCmd.cat('etc/passwd')).code).toBe('USAGE');
  });
});

describe('stock builders', () => {
  it('build the documented argv', () => {
    expect(stockCmd.version()).toEqual(['vmware', '-v']);
    expect(stockCmd.blockMap('/vmfs/volumes/ds/a b/a b.vmdk')).toEqual(['vmkfstools', '-t0', '/vmfs/volumes/ds/a b/a b.vmdk']);
    expect(stockCmd.cat('/vmfs/volumes/ds/$(id)/x.vmx')).toEqual(['cat', '/vmfs/volumes/ds/$(id)/x.vmx']);
  });
});

describe('builders through the transport quoting', () => {
  it.each(HOSTILE)('a real sh sees %j as exactly one argument', async (text) => {
    const { execFileSync } = await import('node:child_process');
    const argv = vimCmd.snapshotCreate('7', text, 'd', false, true);
    const line = shellJoin(['printf', '%s\\0', ...argv.slice(1)]);
    const printed = execFileSync('sh', ['-c', line], { encoding: 'utf8' });
    expect(printed.split('\0').slice(0, -1)).toEqual(argv.slice(1));
  });
});
