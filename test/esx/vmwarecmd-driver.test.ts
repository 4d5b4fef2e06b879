import { describe, expect, it } from 'vitest';
import { VmwareCmdHost } from '../../src/esx/vmwarecmd-driver.js';
import type { VmRef } from '../../src/esx/types.js';
import { catchVcbErrorAsync } from './catch-error.js';
import { ReplayTransport } from './replay-transport.js';

const VMX = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol vm1/sol vm1.vmx';
const VMSD = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol vm1/sol vm1.vmsd';
const VM: VmRef = { id: VMX, name: 'sol vm1', vmxPath: VMX };
const HAS = ['vmware-cmd', VMX, 'hassnapshot'];

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

  it('fails when hassnapshot and the .vmsd disagree', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: '.encoding = "UTF-8"\n' },
    ]);
    expect((await catchVcbErrorAsync(() => new VmwareCmdHost(transport).listSnapshots(VM))).message).toContain('lists none');
  });

  it('creates a snapshot (quiesce before memory in argv) and finds it in the .vmsd', async () => {
    const name = 'x; touch /tmp/p';
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      { argv: ['vmware-cmd', VMX, 'createsnapshot', name, 'd', '1', '0'], stdout: `createsnapshot(${name} d) = success\n` },
      { argv: HAS, stdout: 'hassnapshot() = 1\n' },
      { argv: ['cat', VMSD], stdout: vmsd(['1', name]) },
    ]);
    const snap = await new VmwareCmdHost(transport).createSnapshot(VM, { name, description: 'd', quiesce: true, memory: false, timeoutMs: 1000 });
    expect(snap).toMatchObject({ name, id: '1', depth: 0 });
    expect(transport.sent[1]!.options).toEqual({ timeoutMs: 1000 });
    transport.expectAllUsed();
  });

  it('fails with SNAPSHOT when createsnapshot answers 0', async () => {
    const transport = new ReplayTransport([
      { argv: HAS, stdout: 'hassnapshot() = 0\n' },
      { argv: ['vmware-cmd', VMX, 'createsnapshot', 'n', 'd', '0', '0'], stdout: 'createsnapshot(n d) = 0\n' },
    ]);
    const err = await catchVcbErrorAsync(() =>
      new VmwareCmdHost(transport).createSnapshot(VM, { name: 'n', description: 'd', quiesce: false, memory: false }),
    );
    expect(err.code).toBe('SNAPSHOT');
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
