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

  it('builds the matching driver', async () => {
    const transport = new ReplayTransport([{ argv: VIM, ...NOT_FOUND }, { argv: VMWARE, stdout: '' }]);
    const host = await connectEsxHost(transport);
    expect(host).toBeInstanceOf(VmwareCmdHost);
    expect(host.commandSet).toBe('vmware-cmd');
  });
});
