import { describe, expect, it } from 'vitest';
import { connectEsxHost, detectCommandSet } from '../../src/esx/detect.js';
import { VimCmdHost } from '../../src/esx/vimcmd-driver.js';
import { VmwareCmdHost } from '../../src/esx/vmwarecmd-driver.js';
import { catchVcbErrorAsync } from './catch-error.js';
import { ReplayTransport } from './replay-transport.js';

const VIM = ['vim-cmd', 'vmsvc/getallvms'];
const VMWARE = ['vmware-cmd', '-l'];
const NOT_FOUND = { exitCode: 127, stderr: 'sh: vim-cmd: not found\n' };

describe('detectCommandSet', () => {
  it('chooses vim-cmd when it exists, even if it fails for another reason', async () => {
    const ok = new ReplayTransport([{ argv: VIM, stdout: 'Vmid Name File Guest OS Version Annotation\n' }]);
    expect(await detectCommandSet(ok)).toBe('vim-cmd');
    const hostdDown = new ReplayTransport([{ argv: VIM, exitCode: 1, stderr: 'Failed to login: Connection refused\n' }]);
    expect(await detectCommandSet(hostdDown)).toBe('vim-cmd');
  });

  it('falls back to vmware-cmd when vim-cmd is not found', async () => {
    const transport = new ReplayTransport([{ argv: VIM, ...NOT_FOUND }, { argv: VMWARE, stdout: '' }]);
    expect(await detectCommandSet(transport)).toBe('vmware-cmd');
    transport.expectAllUsed();
  });

  it('fails clearly when neither exists', async () => {
    const transport = new ReplayTransport([{ argv: VIM, ...NOT_FOUND }, { argv: VMWARE, exitCode: 127 }]);
    const err = await catchVcbErrorAsync(() => detectCommandSet(transport));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain('neither vim-cmd nor vmware-cmd');
  });

  it('honours an override without probing', async () => {
    const transport = new ReplayTransport([]);
    expect(await detectCommandSet(transport, 'vmware-cmd')).toBe('vmware-cmd');
    expect(await connectEsxHost(transport, 'vim-cmd')).toBeInstanceOf(VimCmdHost);
    expect(transport.sent).toEqual([]);
  });

  it("hands the probe's VM listing to the driver, so finding the VM next does not list the VMs again", async () => {
    const listing =
      'Vmid   Name      File                              Guest OS          Version   Annotation\n' +
      '12     web01     [datastore1] web01/web01.vmx      otherLinux64Guest vmx-13\n';
    const transport = new ReplayTransport([
      { argv: VIM, stdout: listing },
      { argv: VIM, stdout: listing.replace('web01 ', 'web02 ').replace(/web01/g, 'web02') },
    ]);
    const host = await connectEsxHost(transport);
    expect((await host.listVms()).map((v) => v.name)).toEqual(['web01']);
    expect(transport.sent).toHaveLength(1);
    // Used once: a later listing asks the host.
    expect((await host.listVms()).map((v) => v.name)).toEqual(['web02']);
    transport.expectAllUsed();
  });

  it('asks again when the probe found vim-cmd but it failed, and reports that failure', async () => {
    const transport = new ReplayTransport([
      { argv: VIM, exitCode: 1, stderr: 'Failed to login: Connection refused\n' },
      { argv: VIM, exitCode: 1, stderr: 'Failed to login: Connection refused\n' },
    ]);
    const host = await connectEsxHost(transport);
    const err = await catchVcbErrorAsync(() => host.listVms());
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain('Connection refused');
    transport.expectAllUsed();
  });

  it('builds the matching driver', async () => {
    const transport = new ReplayTransport([{ argv: VIM, ...NOT_FOUND }, { argv: VMWARE, stdout: '' }]);
    const host = await connectEsxHost(transport);
    expect(host).toBeInstanceOf(VmwareCmdHost);
    expect(host.commandSet).toBe('vmware-cmd');
  });
});
