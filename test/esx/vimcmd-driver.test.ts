import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VimCmdHost } from '../../src/esx/vimcmd-driver.js';
import { parseSnapshotGet } from '../../src/esx/parse/snapshot-tree.js';
import type { VmRef } from '../../src/esx/types.js';
import { catchVcbErrorAsync } from './catch-error.js';
import { ReplayTransport, TransportError } from './replay-transport.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

const VM: VmRef = { id: '12', name: 'web 01', vmxPath: '/vmfs/volumes/datastore1/web 01/web 01.vmx' };
const GET = ['vim-cmd', 'vmsvc/snapshot.get', '12'];

const tree = (...nodes: Array<[depth: number, name: string, id?: string]>): string =>
  ['Get Snapshot:']
    .concat(
      nodes.flatMap(([depth, name, id]) => {
        const d = '--'.repeat(depth);
        const f = `${d}--`;
        return [
          `${d}|-${depth === 0 ? 'ROOT' : 'CHILD'}`,
          `${f}Snapshot Name        : ${name}`,
          ...(id === undefined ? [] : [`${f}Snapshot Id          : ${id}`]),
          `${f}Snapshot Desciption  : `,
          `${f}Snapshot Created On  : 3/1/2015 4:5:${depth}`,
          `${f}Snapshot State       : powered on`,
        ];
      }),
    )
    .join('\n') + '\n';

describe('VimCmdHost', () => {
  it('lists VMs with canonical and bracket paths', async () => {
    const transport = new ReplayTransport([
      {
        argv: ['vim-cmd', 'vmsvc/getallvms'],
        stdout:
          'Vmid   Name      File                              Guest OS          Version   Annotation\n' +
          '12     web 01    [datastore1] web 01/web 01.vmx    otherLinux64Guest vmx-13\n',
      },
    ]);
    expect(await new VimCmdHost(transport).listVms()).toEqual([
      { ...VM, bracketPath: '[datastore1] web 01/web 01.vmx', guestOs: 'otherLinux64Guest' },
    ]);
  });

  it('reads VM info from get.summary', async () => {
    const transport = new ReplayTransport([{ argv: ['vim-cmd', 'vmsvc/get.summary', '12'], stdout: fixture('get-summary-on.txt') }]);
    expect(await new VimCmdHost(transport).getVmInfo(VM)).toEqual({
      name: 'web 01',
      powerState: 'on',
      vmxPath: '/vmfs/volumes/datastore1/web 01/web 01.vmx',
      biosUuid: '564d7c9e-5d1b-8a4e-b2c0-6f3a1d2e9b10',
      ipAddress: '10.1.1.107',
      toolsRunning: true,
      guestFullName: 'Ubuntu Linux (64-bit)',
    });
  });

  it('creates a snapshot with a hostile name as one argv element and returns it with its id', async () => {
    const name = `_VCB-BACKUP_ x; touch /tmp/p $(id) 'q'`;
    const transport = new ReplayTransport([
      { argv: GET, stdout: tree([0, 'user snap', '1']) },
      { argv: ['vim-cmd', 'vmsvc/snapshot.create', '12', name, 'by vcbmounter', '0', '1'], stdout: 'Create Snapshot:\n' },
      { argv: GET, stdout: tree([0, 'user snap', '1'], [1, name, '2']) },
    ]);
    const snap = await new VimCmdHost(transport).createSnapshot(VM, {
      name,
      description: 'by vcbmounter',
      quiesce: true,
      memory: false,
      timeoutMs: 30_000,
    });
    expect(snap).toMatchObject({ name, id: '2', parentName: 'user snap', depth: 1 });
    expect(transport.sent[1]!.options).toEqual({ timeoutMs: 30_000 });
    transport.expectAllUsed();
  });

  it('fails with QUIESCE and the fault message when the create prints a quiesce fault (classified where the output is parsed)', async () => {
    const create = ['vim-cmd', 'vmsvc/snapshot.create', '12', 'b', 'd', '0', '1'];
    const transport = new ReplayTransport([
      { argv: GET, stdout: 'Get Snapshot:\n' },
      {
        argv: create,
        exitCode: 1,
        stdout: 'Create Snapshot:\n(vim.fault.ApplicationQuiesceFault) {\n   faultCause = (vmodl.MethodFault) null,\n   msg = "An error occurred while quiescing the virtual machine."\n}\n',
      },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VimCmdHost(transport).createSnapshot(VM, { name: 'b', description: 'd', quiesce: true, memory: false }),
    );
    expect(err.code).toBe('QUIESCE');
    expect(err.context.command).toEqual(create);
    expect(err.message).toContain('ApplicationQuiesceFault: An error occurred while quiescing');
    transport.expectAllUsed();
  });

  it('does not trust an exit status of 0 when no snapshot appears', async () => {
    const transport = new ReplayTransport([
      { argv: GET, stdout: 'Get Snapshot:\n' },
      { argv: ['vim-cmd', 'vmsvc/snapshot.create', '12', 'b', 'd', '0', '0'], stdout: 'Create Snapshot:\nSnapshot not taken since the state of the virtual machine has not changed\n' },
      { argv: GET, stdout: 'Get Snapshot:\n' },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VimCmdHost(transport).createSnapshot(VM, { name: 'b', description: 'd', quiesce: false, memory: false }),
    );
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('no new snapshot named "b"');
    expect(err.message).toContain('Snapshot not taken');
  });

  it('removes one snapshot by id and verifies it is gone', async () => {
    const transport = new ReplayTransport([
      { argv: GET, stdout: tree([0, 'user snap', '1'], [1, '_VCB-BACKUP_', '2']) },
      { argv: ['vim-cmd', 'vmsvc/snapshot.remove', '12', '2'], stdout: 'Remove Snapshot:\n' },
      { argv: GET, stdout: tree([0, 'user snap', '1']) },
    ]);
    const host = new VimCmdHost(transport);
    const result = await host.removeSnapshot(VM, { name: '_VCB-BACKUP_', id: '2', description: '', createdOn: '', depth: 1, path: [] });
    expect(result).toBe('removed');
    transport.expectAllUsed();
  });

  it('creates and removes with a listing the caller just made, without listing before the command', async () => {
    const before = tree([0, 'user snap', '1']);
    const transport = new ReplayTransport([
      { argv: ['vim-cmd', 'vmsvc/snapshot.create', '12', '_VCB-BACKUP_', 'd', '0', '0'], stdout: 'Create Snapshot:\n' },
      { argv: GET, stdout: tree([0, 'user snap', '1'], [1, '_VCB-BACKUP_', '2']) },
      { argv: ['vim-cmd', 'vmsvc/snapshot.remove', '12', '2'], stdout: 'Remove Snapshot:\n' },
      { argv: GET, stdout: before },
    ]);
    const host = new VimCmdHost(transport);
    const listing = parseSnapshotGet(before, GET);
    const snap = await host.createSnapshot(VM, { name: '_VCB-BACKUP_', description: 'd', quiesce: false, memory: false, listing });
    expect(snap).toMatchObject({ name: '_VCB-BACKUP_', id: '2' });
    const current = parseSnapshotGet(tree([0, 'user snap', '1'], [1, '_VCB-BACKUP_', '2']), GET);
    expect(await host.removeSnapshot(VM, snap, { listing: current })).toBe('removed');
    transport.expectAllUsed();
  });

  it('is idempotent: an already removed snapshot is reported absent and nothing is removed', async () => {
    const transport = new ReplayTransport([{ argv: GET, stdout: tree([0, 'user snap', '1']) }]);
    const result = await new VimCmdHost(transport).removeSnapshot(VM, { name: 'gone', id: '9', description: '', createdOn: '', depth: 0, path: ['gone'] });
    expect(result).toBe('absent');
    transport.expectAllUsed();
  });

  it('fails when the host still lists the snapshot after removal', async () => {
    const listing = tree([0, '_VCB-BACKUP_', '4']);
    const transport = new ReplayTransport([
      { argv: GET, stdout: listing },
      { argv: ['vim-cmd', 'vmsvc/snapshot.remove', '12', '4'], stdout: 'Remove Snapshot:\n' },
      { argv: GET, stdout: listing },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VimCmdHost(transport).removeSnapshot(VM, { name: '_VCB-BACKUP_', id: '4', description: '', createdOn: '', depth: 0, path: [] }),
    );
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('still listed');
  });

  describe('on builds without snapshot ids', () => {
    it('refuses to remove when other snapshots exist, sending no removal', async () => {
      const listing = tree([0, 'user snap'], [1, '_VCB-BACKUP_']);
      const transport = new ReplayTransport([{ argv: GET, stdout: listing }]);
      const host = new VimCmdHost(transport);
      const target = (await new VimCmdHost(new ReplayTransport([{ argv: GET, stdout: listing }])).listSnapshots(VM))[1]!;
      const err = await catchVcbErrorAsync(() => host.removeSnapshot(VM, target));
      expect(err.code).toBe('SNAPSHOT');
      expect(err.message).toContain('"user snap"');
      transport.expectAllUsed();
    });

    it('removes the only snapshot with removeall', async () => {
      const listing = tree([0, '_VCB-BACKUP_']);
      const target = (await new VimCmdHost(new ReplayTransport([{ argv: GET, stdout: listing }])).listSnapshots(VM))[0]!;
      const transport = new ReplayTransport([
        { argv: GET, stdout: listing },
        { argv: ['vim-cmd', 'vmsvc/snapshot.removeall', '12'], stdout: 'Remove All Snapshots:\n' },
        { argv: GET, stdout: 'Get Snapshot:\n' },
      ]);
      expect(await new VimCmdHost(transport).removeSnapshot(VM, target)).toBe('removed');
      transport.expectAllUsed();
    });
  });

  it('maps transport failures to VcbError codes with the command and the cause', async () => {
    const timeout = new TransportError('TIMEOUT', 'no answer within 5000 ms');
    const transport = new ReplayTransport([
      { argv: GET, error: timeout },
      { argv: GET, error: new TransportError('SOCKET', 'connection reset') },
    ]);
    const host = new VimCmdHost(transport);
    const first = await catchVcbErrorAsync(() => host.listSnapshots(VM));
    expect(first.code).toBe('HOST_COMMAND');
    expect(first.cause).toBe(timeout);
    expect(first.message).toContain('timed out');
    expect(first.context.command).toEqual(GET);
    expect((await catchVcbErrorAsync(() => host.listSnapshots(VM))).code).toBe('CONNECT');
  });

  it('reports a non-zero exit with the host stderr', async () => {
    const transport = new ReplayTransport([
      { argv: ['cat', '/vmfs/volumes/ds/a.vmx'], exitCode: 1, stderr: 'cat: can\'t open \'/vmfs/volumes/ds/a.vmx\': No such file or directory\n' },
    ]);
    const err = await catchVcbErrorAsync(() => new VimCmdHost(transport).readFile('/vmfs/volumes/ds/a.vmx'));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain('No such file or directory');
    expect(err.message).toContain('exit status 1');
  });

  it('fails on a fault block even when vim-cmd exits 0, but returns a file that merely contains one', async () => {
    const fault = '(vim.fault.NotFound) {\n   msg = "Unable to find snapshot"\n}\n';
    const log = '/vmfs/volumes/datastore1/web 01/vmware.log';
    const transport = new ReplayTransport([
      { argv: GET, stdout: fault },
      { argv: ['cat', log], stdout: `2019-01-01 hostd said:\n${fault}` },
    ]);
    const host = new VimCmdHost(transport);
    const err = await catchVcbErrorAsync(() => host.listSnapshots(VM));
    expect(err.message).toContain('NotFound: Unable to find snapshot');
    expect(await host.readFile(log)).toContain('(vim.fault.NotFound)');
  });

  it('reads a block map and a file', async () => {
    const disk = '/vmfs/volumes/datastore1/web 01/web 01.vmdk';
    const transport = new ReplayTransport([
      { argv: ['vmkfstools', '-t0', disk], stdout: `Mapping for file ${disk} (1024 bytes in size):\n[ 0: 1024] --> [NOMP -- :( 0 --> 0)]\n` },
      { argv: ['cat', VM.vmxPath], stdout: 'displayName = "web 01"\n' },
    ]);
    const host = new VimCmdHost(transport);
    expect((await host.blockMap(disk)).extents).toEqual([{ fileOffset: 0, length: 1024, kind: 'hole' }]);
    expect(await host.readFile(VM.vmxPath)).toBe('displayName = "web 01"\n');
  });
});
