import { describe, expect, it } from 'vitest';
import { vmwareCmd } from '../../src/esx/commands/vmware-cmd.js';
import {
  findVmControlError,
  parseVmwareCmdList,
  parseVmwareCmdResult,
  parseVmwareCmdState,
  parseVmwareCmdSuccess,
} from '../../src/esx/parse/vmware-cmd.js';
import { catchVcbError } from './catch-error.js';

const VMX = '/vmfs/volumes/4655dd66-758d208c-1b24-001aa0187722/sol_vm1/sol_vm1.vmx';

describe('vmware-cmd results', () => {
  it.each([
    ['getstate() = on\n', 'on'],
    ['getstate() = off', 'off'],
    ['  getstate()=suspended  \n\n', 'suspended'],
    ['getstate() = stuck\n', 'stuck'],
  ])('reads state from %j', (out, state) => {
    expect(parseVmwareCmdState(out, vmwareCmd.getState(VMX))).toBe(state);
  });

  it('reads values whose arguments hold spaces, parentheses and " = "', () => {
    const command = vmwareCmd.createSnapshot(VMX, 'nightly (a) = b', 'x; touch /tmp/p', true, false);
    expect(parseVmwareCmdResult('createsnapshot(nightly (a) = b x; touch /tmp/p) = 1\n', command)).toBe('1');
    expect(parseVmwareCmdSuccess('createsnapshot(nightly (a) = b x; touch /tmp/p) = success\n', command)).toBe(true);
    expect(parseVmwareCmdResult('getconfig(uuid.bios) = 56 4d 2f 3a 11 22 33 44-55 66 77 88 99 aa bb cc\n', vmwareCmd.getConfig(VMX, 'uuid.bios'))).toBe(
      '56 4d 2f 3a 11 22 33 44-55 66 77 88 99 aa bb cc',
    );
  });

  it('reads success flags 1 / success / 0', () => {
    expect(parseVmwareCmdSuccess('hassnapshot() = 1', vmwareCmd.hasSnapshot(VMX))).toBe(true);
    expect(parseVmwareCmdSuccess('hassnapshot() = 0', vmwareCmd.hasSnapshot(VMX))).toBe(false);
    expect(parseVmwareCmdSuccess(`register(${VMX}) = 1`, vmwareCmd.register(VMX))).toBe(true);
  });

  it('turns a VMControl error into a HOST_COMMAND error with the host message', () => {
    const out = 'VMControl error -11: No such virtual machine: /vmfs/volumes/x/y.vmx\n';
    expect(findVmControlError(out)).toEqual({ code: 11, message: 'No such virtual machine: /vmfs/volumes/x/y.vmx' });
    const err = catchVcbError(() => parseVmwareCmdResult(out, vmwareCmd.getState(VMX)));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain('VMControl error -11: No such virtual machine');
    expect(err.context.command).toEqual(['vmware-cmd', VMX, 'getstate']);
  });

  it.each([
    ['another operation', 'getconfig(x) = 1', 'expected "getstate(...) = value"'],
    ['two result lines', 'getstate() = on\ngetstate() = off', 'line 2'],
    ['nothing', '', 'no "getstate(...) = value"'],
  ])('rejects %s', (_label, out, mention) => {
    expect(catchVcbError(() => parseVmwareCmdResult(out, vmwareCmd.getState(VMX))).message).toContain(mention);
  });

  it('rejects a success value it does not know and a state it does not know', () => {
    expect(catchVcbError(() => parseVmwareCmdSuccess('hassnapshot() = maybe', vmwareCmd.hasSnapshot(VMX))).message).toContain('maybe');
    expect(catchVcbError(() => parseVmwareCmdState('getstate() = paused', vmwareCmd.getState(VMX))).message).toContain('paused');
  });
});

describe('parseVmwareCmdList', () => {
  it('lists .vmx paths, including names with spaces', () => {
    const out = `${VMX}\n/vmfs/volumes/storage1/web 01/web 01.vmx\n\n`;
    expect(parseVmwareCmdList(out)).toEqual([VMX, '/vmfs/volumes/storage1/web 01/web 01.vmx']);
    expect(parseVmwareCmdList('')).toEqual([]);
  });

  it('rejects other lines, naming them', () => {
    const err = catchVcbError(() => parseVmwareCmdList(`${VMX}\nUse of uninitialized value in concatenation\n`));
    expect(err.message).toContain('line 2');
    expect(err.context.command).toEqual(['vmware-cmd', '-l']);
  });
});
