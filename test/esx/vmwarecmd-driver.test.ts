import { describe, expect, it } from 'vitest';
import { VmwareCmdHost } from '../../src/esx/vmwarecmd-driver.js';
import type { VmRef } from '../../src/esx/types.js';
import { catchVcbErrorAsync } from './catch-error.js';
import { ReplayTransport } from './replay-transport.js';

const VMX = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol vm1/sol vm1.vmx';
const VMSD = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol vm1/sol vm1.vmsd';
const VM: VmRef = { id: VMX, name: 'sol vm1', vmxPath: VMX };
const HAS = ['vmware-cmd', VMX, 'hassnapshot'];
const DIR = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol vm1';
const VMX_TEXT = 'displayName = "sol vm1"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "sol vm1.vmdk"\n';
const VMX_SNAP = 'displayName = "sol vm1"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "sol vm1-000001.vmdk"\n';
const BASE = `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\ncreateType="vmfs"\n\nRW 32768 VMFS "sol vm1-flat.vmdk"\n`;
const child = (n: number, parent: string) =>
  `# Disk DescriptorFile\nversion=1\nCID=0000000${n}\nparentCID=fffffffe\ncreateType="vmfsSparse"\nparentFileNameHint="${parent}"\n\nRW 32768 VMFSSPARSE "sol vm1-00000${n}-delta.vmdk"\n`;
const vmxWith = (top: string) => `displayName = "sol vm1"\nscsi0:0.present = "TRUE"\nscsi0:0.fileName = "${top}"\n`;
/** The reads of the chain of a VM whose one disk has no snapshot, and with the run's one. */
const CHAIN_BEFORE = [
  { argv: ['cat', VMX], stdout: VMX_TEXT },
  { argv: ['cat', `${DIR}/sol vm1.vmdk`], stdout: BASE },
];
const CHAIN_AFTER = [
  { argv: ['cat', VMX], stdout: VMX_SNAP },
  { argv: ['cat', `${DIR}/sol vm1-000001.vmdk`], stdout: child(1, 'sol vm1.vmdk') },
  { argv: ['cat', `${DIR}/sol vm1.vmdk`], stdout: BASE },
];

const vmsd = (...snaps: Array<[uid: string, name: string, parent?: string]>): string =>
  [`.encoding = "UTF-8"`, `snapshot.numSnapshots = "${snaps.length}"`]
    .concat(
      snaps.flatMap(([uid, name, parent], i) => [
        `snapshot${i}.uid = "${uid}"`,
        `snapshot${i}.displayName = "${name}"`,
        ...(parent ? [`snapshot${i}.parent = "${parent}"`] : []),
      ]),
    )
    .join('\n') + '\n';

describe('VmwareCmdHost', () => {
  it('lists VMs from vmware-cmd -l and each .vmx', async () => {
    const other = '/vmfs/volumes/storage1/web 01/web 01.vmx';
    const transport = new ReplayTransport([
      { argv: ['vmware-cmd', '-l'], stdout: `${VMX}\n${other}\n` },
      { argv: ['cat', VMX], stdout: 'displayName = "sol vm1"\nguestOS = "solaris10"\n' },
      { argv: ['cat', other], stdout: 'displayName = "web |22one|22"\n' },
    ]);
    expect(await new VmwareCmdHost(transport).listVms()).toEqual([
      { id: VMX, name: 'sol vm1', vmxPath: VMX, guestOs: 'solaris10' },
      { id: other, name: 'web "one"', vmxPath: other, bracketPath: '[storage1] web 01/web 01.vmx' },
    ]);
  });

  it('reads state, BIOS uuid and (best effort) the guest IP', async () => {
    const transport = new ReplayTransport([
      { argv: ['vmware-cmd', VMX, 'getstate'], stdout: 'getstate() = on\n' },
      { argv: ['vmware-cmd', VMX, 'getconfig', 'uuid.bios'], stdout: 'getconfig(uuid.bios) = 56 4d 2f 3a 11 22 33 44-55 66 77 88 99 aa bb cc\n' },
      { argv: ['vmware-cmd', VMX, 'getguestinfo', 'ip'], stdout: 'getguestinfo(ip) = 10.1.1.107\n' },
    ]);
    expect(await new VmwareCmdHost(transport).getVmInfo(VM)).toEqual({
      name: 'sol vm1',
      powerState: 'on',
      vmxPath: VMX,
      biosUuid: '56 4d 2f 3a 11 22 33 44-55 66 77 88 99 aa bb cc',
      ipAddress: '10.1.1.107',
    });
  });

  it('leaves the IP out when Tools do not answer, and does not ask when the VM is off', async () => {
    const running = new ReplayTransport([
      { argv: ['vmware-cmd', VMX, 'getstate'], stdout: 'getstate() = on\n' },
      { argv: ['vmware-cmd', VMX, 'getconfig', 'uuid.bios'], stdout: 'getconfig(uuid.bios) = 56 4d\n' },
      { argv: ['vmware-cmd', VMX, 'getguestinfo', 'ip'], exitCode: 1, stdout: 'VMControl error -3: Invalid arguments: guest info variable not set\n' },
    ]);
    expect((await new VmwareCmdHost(running).getVmInfo(VM)).ipAddress).toBeUndefined();
    const off = new ReplayTransport([
      { argv: ['vmware-cmd', VMX, 'getstate'], stdout: 'getstate() = off\n' },
      { argv: ['vmware-cmd', VMX, 'getconfig', 'uuid.bios'], stdout: 'getconfig(uuid.bios) = 56 4d\n' },
    ]);
    expect(await new VmwareCmdHost(off).getVmInfo(VM)).toEqual({ name: 'sol vm1', powerState: 'off', vmxPath: VMX, biosUuid: '56 4d' });
    off.expectAllUsed();
  });

  it('turns VMControl errors into HOST_COMMAND errors naming the command', async () => {
    const transport = new ReplayTransport([
      { argv: ['vmware-cmd', VMX, 'getstate'], exitCode: 11, stdout: `VMControl error -11: No such virtual machine: ${VMX}\n` },
    ]);
    const err = await catchVcbErrorAsync(() => new VmwareCmdHost(transport).getVmInfo(VM));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain('VMControl error -11: No such virtual machine');
    expect(err.context.command).toEqual(['vmware-cmd', VMX, 'getstate']);
  });

  it('lists snapshots from the .vmsd only when hassnapshot says so', async () => {
    const none = new ReplayTransport([{ argv: HAS, stdout: 'hassnapshot() = 0\n' }]);
    expect(await new VmwareCmdHost(none).listSnapshots(VM)).toEqual([]);
    none.expectAllUsed();
    const some = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: vmsd(['1', 'user'], ['2', 'mine', '1']) },
    ]);
    expect((await new VmwareCmdHost(some).listSnapshots(VM)).map((s) => [s.name, s.id, s.depth])).toEqual([
      ['user', '1', 0],
      ['mine', '2', 1],
    ]);
  });

  it('refuses with SNAPSHOT when hassnapshot says 1 but the .vmsd lists none or is missing', async () => {
    const none = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: '.encoding = "UTF-8"\n' },
    ]);
    const err = await catchVcbErrorAsync(() => new VmwareCmdHost(none).listSnapshots(VM));
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('lists none');
    expect(err.message).toContain('sol vm1');
    expect(err.message).toContain('mgmt-vmware restart');
    const missing = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], exitCode: 1, stderr: `cat: can't open '${VMSD}': No such file or directory\n` },
    ]);
    const err2 = await catchVcbErrorAsync(() => new VmwareCmdHost(missing).listSnapshots(VM));
    expect(err2.code).toBe('SNAPSHOT');
    expect(err2.message).toContain('No such file or directory');
  });

  it('creates a snapshot (quiesce before memory in argv), judged by hassnapshot and the chains, with its id from the .vmsd', async () => {
    const name = 'x; touch /tmp/p';
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      ...CHAIN_BEFORE,
      { argv: ['vmware-cmd', VMX, 'createsnapshot', name, 'd', '1', '0'], stdout: `createsnapshot(${name} d) = success\n` },
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      ...CHAIN_AFTER,
      { argv: ['cat', VMSD], stdout: vmsd(['1', name]).replace('.encoding', 'snapshot0.description = "d"\n.encoding') },
    ]);
    const snap = await new VmwareCmdHost(transport).createSnapshot(VM, { name, description: 'd', quiesce: true, memory: false, timeoutMs: 1000 });
    expect(snap).toMatchObject({ name, id: '1', depth: 0 });
    expect(snap.owned!.baseline).toEqual({ hassnapshot: 0, chains: [{ device: 'scsi0:0', path: `${DIR}/sol vm1.vmdk`, links: 1 }] });
    expect(snap.owned!.created).toEqual([{ device: 'scsi0:0', path: `${DIR}/sol vm1-000001.vmdk`, links: 2, parent: `${DIR}/sol vm1.vmdk` }]);
    expect(transport.sent[3]!.options).toEqual({ timeoutMs: 1000 });
    transport.expectAllUsed();
  });

  it('recognises its snapshot by the chains when the .vmsd does not list it, and removes it with removesnapshots', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      ...CHAIN_BEFORE,
      { argv: ['vmware-cmd', VMX, 'createsnapshot', 'n', 'd', '0', '0'], stdout: 'createsnapshot(n d) = 1\n' },
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      ...CHAIN_AFTER,
      { argv: ['cat', VMSD], exitCode: 1, stderr: `cat: can't open '${VMSD}': No such file or directory\n` },
      // removal: the same evidence, removesnapshots, then hostd and the chains as before the create
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      ...CHAIN_AFTER,
      { argv: ['vmware-cmd', VMX, 'removesnapshots'], stdout: 'removesnapshots() = 1\n' },
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      ...CHAIN_BEFORE,
      // a second removal finds it gone
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      ...CHAIN_BEFORE,
    ]);
    const host = new VmwareCmdHost(transport);
    const snap = await host.createSnapshot(VM, { name: 'n', description: 'd', quiesce: false, memory: false });
    expect(snap.id).toBeUndefined();
    expect(await host.removeSnapshot(VM, snap)).toBe('removed');
    expect(await host.removeSnapshot(VM, snap)).toBe('absent');
    transport.expectAllUsed();
  });

  it('never runs removesnapshots when a chain grew by more than the run\'s link, or hostd and the chains disagree', async () => {
    const owned = {
      baseline: { hassnapshot: 0 as const, chains: [{ device: 'scsi0:0', path: `${DIR}/sol vm1.vmdk`, links: 1 }] },
    };
    const target = { name: '_VCB-BACKUP_', description: 'd', createdOn: '', depth: 0, path: ['_VCB-BACKUP_'], owned };
    const twoMore = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMX], stdout: vmxWith('sol vm1-000002.vmdk') },
      { argv: ['cat', `${DIR}/sol vm1-000002.vmdk`], stdout: child(2, 'sol vm1-000001.vmdk') },
      { argv: ['cat', `${DIR}/sol vm1-000001.vmdk`], stdout: child(1, 'sol vm1.vmdk') },
      { argv: ['cat', `${DIR}/sol vm1.vmdk`], stdout: BASE },
    ]);
    const err = await catchVcbErrorAsync(() => new VmwareCmdHost(twoMore).removeSnapshot(VM, target));
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toMatch(/scsi0:0 has 3 links.*1 before the create/);
    twoMore.expectAllUsed();
    const noSnapshot = new ReplayTransport([{ argv: HAS, stdout: 'hassnapshot() = 0\n' }, ...CHAIN_AFTER]);
    expect((await catchVcbErrorAsync(() => new VmwareCmdHost(noSnapshot).removeSnapshot(VM, target))).message).toContain('hostd reports no snapshot');
    const notGrown = new ReplayTransport([{ argv: HAS, stdout: 'hassnapshot() = 1\n' }, ...CHAIN_BEFORE]);
    expect((await catchVcbErrorAsync(() => new VmwareCmdHost(notGrown).removeSnapshot(VM, target))).message).toContain('no disk chain grew');
  });

  it('refuses before creating anything when hassnapshot says 1 or the chains cannot be read', async () => {
    const has = new ReplayTransport([{ argv: HAS, stdout: 'hassnapshot() = 1\n' }]);
    const err = await catchVcbErrorAsync(() => new VmwareCmdHost(has).createSnapshot(VM, { name: 'n', description: 'd', quiesce: false, memory: false }));
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('hassnapshot says 1');
    has.expectAllUsed();
    const unreadable = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      { argv: ['cat', VMX], stdout: VMX_TEXT },
      { argv: ['cat', `${DIR}/sol vm1.vmdk`], exitCode: 1, stderr: 'cat: read error: Input/output error\n' },
    ]);
    const err2 = await catchVcbErrorAsync(() => new VmwareCmdHost(unreadable).createSnapshot(VM, { name: 'n', description: 'd', quiesce: false, memory: false }));
    expect(err2.code).toBe('SNAPSHOT');
    expect(err2.message).toMatch(/cannot read the disk chains of sol vm1.*Input\/output error.*no snapshot was created/);
    unreadable.expectAllUsed();
  });

  it('fails with SNAPSHOT when createsnapshot answers 0', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      ...CHAIN_BEFORE,
      { argv: ['vmware-cmd', VMX, 'createsnapshot', 'n', 'd', '0', '0'], stdout: 'createsnapshot(n d) = 0\n' },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VmwareCmdHost(transport).createSnapshot(VM, { name: 'n', description: 'd', quiesce: false, memory: false }),
    );
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('refused');
    transport.expectAllUsed();
  });

  it('refuses to remove its snapshot while a user snapshot exists, sending no removesnapshots', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: vmsd(['1', 'before upgrade'], ['2', '_VCB-BACKUP_', '1']) },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VmwareCmdHost(transport).removeSnapshot(VM, { name: '_VCB-BACKUP_', id: '2', description: '', createdOn: '', depth: 1, path: [] }),
    );
    expect(err.code).toBe('SNAPSHOT');
    expect(err.message).toContain('ESX 3.x can only remove all snapshots');
    expect(err.message).toContain('"before upgrade"');
    transport.expectAllUsed();
  });

  it('removes the only snapshot and confirms none is left; a second call finds it absent', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: vmsd(['3', '_VCB-BACKUP_']) },
      { argv: ['vmware-cmd', VMX, 'removesnapshots'], stdout: 'removesnapshots() = 1\n' },
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
    ]);
    const host = new VmwareCmdHost(transport);
    const target = { name: '_VCB-BACKUP_', id: '3', description: '', createdOn: '', depth: 0, path: ['_VCB-BACKUP_'] };
    expect(await host.removeSnapshot(VM, target)).toBe('removed');
    expect(await host.removeSnapshot(VM, target)).toBe('absent');
    transport.expectAllUsed();
  });
});
