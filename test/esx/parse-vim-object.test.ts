import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findVimFault, describeVimFault } from '../../src/esx/parse/vim-fault.js';
import { parseVimDump, vimField } from '../../src/esx/parse/vim-object.js';
import { parseVmSummary } from '../../src/esx/parse/vm-summary.js';
import { catchVcbError } from './catch-error.js';

const fixture = (name: string): string => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
const SUMMARY_CMD = ['vim-cmd', 'vmsvc/get.summary', '12'];

describe('parseVimDump', () => {
  it('builds an object tree with types, arrays, unset, refs, numbers and escaped strings', () => {
    const { preamble, value } = parseVimDump(fixture('get-summary-on.txt'), SUMMARY_CMD);
    expect(preamble).toEqual(['Listsummary:']);
    expect(vimField(value, '$type')).toBe('vim.vm.Summary');
    expect(vimField(value, 'vm')).toBe('vim.VirtualMachine:12');
    expect(vimField(value, 'runtime.suspendTime')).toBeNull();
    expect(vimField(value, 'runtime.question')).toBeNull();
    expect(vimField(value, 'runtime.maxCpuUsage')).toBe(4400);
    expect(vimField(value, 'runtime.paused')).toBe(false);
    const device = vimField(value, 'runtime.device') as unknown[];
    expect(device).toHaveLength(1);
    expect(vimField(device[0] as never, 'runtimeState.vmDirectPathGen2InactiveReasonVm')).toEqual([
      'vmNptIncompatibleAdapterType',
    ]);
    expect(vimField(value, 'config.annotation')).toBe('nightly backup; owner "ops"');
    expect(vimField(value, 'storage.uncommitted')).toBe('18446744073709551615');
    expect(vimField(value, 'customValue')).toEqual([]);
  });

  it('tolerates trailing commas and fields it does not know', () => {
    const { value } = parseVimDump(fixture('get-summary-off.txt'), SUMMARY_CMD);
    expect(vimField(value, 'runtime.newFieldFromALaterBuild.nested')).toEqual([1, 2, 3]);
  });

  it('keeps an unescaped quote inside a string when it cannot end the value', () => {
    const { value } = parseVimDump('(x) {\n   a = "say "hi" now",\n   b = 1\n}\n', SUMMARY_CMD);
    expect(vimField(value, 'a')).toBe('say "hi" now');
    expect(vimField(value, 'b')).toBe(1);
  });

  it.each([
    ['an unterminated block', '(vim.vm.Summary) {\n   a = 1,\n', 'expected "key = value"'],
    ['a missing comma', '(x) {\n   a = 1\n   b = 2\n}\n', 'line 3'],
    ['text after the block', '(x) {\n   a = 1\n}\ntrailing words\n', 'line 4'],
    ['no block at all', 'Listsummary:\n', 'no data object'],
  ])('fails on %s', (_label, out, mention) => {
    const err = catchVcbError(() => parseVimDump(out, SUMMARY_CMD));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.context.command).toEqual(SUMMARY_CMD);
    expect(err.message).toContain(mention);
  });
});

describe('parseVmSummary', () => {
  it('extracts what a backup needs from a running VM with Tools', () => {
    const summary = parseVmSummary(fixture('get-summary-on.txt'), SUMMARY_CMD);
    expect(summary).toMatchObject({
      name: 'web 01',
      powerState: 'on',
      vmPathName: '[datastore1] web 01/web 01.vmx',
      biosUuid: '564d7c9e-5d1b-8a4e-b2c0-6f3a1d2e9b10',
      instanceUuid: '52a3b1c4-1111-2222-3333-444455556666',
      ipAddress: '10.1.1.107',
      toolsRunningStatus: 'guestToolsRunning',
      toolsStatus: 'toolsOk',
      toolsRunning: true,
      guestFullName: 'Ubuntu Linux (64-bit)',
      guestId: 'ubuntu64Guest',
    });
    expect(summary.raw.$type).toBe('vim.vm.Summary');
  });

  it('leaves unset fields out and reads Tools state from toolsStatus alone', () => {
    const summary = parseVmSummary(fixture('get-summary-off.txt'), SUMMARY_CMD);
    expect(summary.powerState).toBe('off');
    expect(summary.name).toBe('Bücher ü');
    expect(summary.ipAddress).toBeUndefined();
    expect(summary.toolsRunning).toBe(false);
    expect(summary.guestFullName).toBe('Microsoft Windows Server 2016 (64-bit)');
    expect('ipAddress' in summary).toBe(false);
  });

  it('reads runtime.consolidationNeeded: false, true, or absent on builds before ESXi 5', () => {
    const on = fixture('get-summary-on.txt');
    expect(parseVmSummary(on, SUMMARY_CMD).consolidationNeeded).toBe(false);
    expect(parseVmSummary(on.replace('consolidationNeeded = false', 'consolidationNeeded = true'), SUMMARY_CMD).consolidationNeeded).toBe(true);
    expect('consolidationNeeded' in parseVmSummary(on.replace(/^\s*consolidationNeeded = false,\n/m, ''), SUMMARY_CMD)).toBe(false);
    const odd = catchVcbError(() => parseVmSummary(on.replace('consolidationNeeded = false', 'consolidationNeeded = "maybe"'), SUMMARY_CMD));
    expect(odd.message).toContain('consolidationNeeded');
  });

  it.each([
    ['a fault instead of a summary', fixture('fault-invalid-power-state.txt'), 'InvalidPowerState'],
    ['a summary without powerState', '(vim.vm.Summary) {\n config = (c) { name = "a", vmPathName = "[d] a/a.vmx" }\n}\n', 'runtime.powerState'],
    ['an unknown power state', '(vim.vm.Summary) {\n runtime = (r) { powerState = "poweredSideways" },\n config = (c) { name = "a", vmPathName = "[d] a/a.vmx" }\n}\n', 'poweredSideways'],
  ])('fails on %s', (_label, out, mention) => {
    const err = catchVcbError(() => parseVmSummary(out, SUMMARY_CMD));
    expect(err.code).toBe('HOST_COMMAND');
    expect(err.message).toContain(mention);
  });
});

describe('findVimFault', () => {
  it('names the fault and the host message', () => {
    const fault = findVimFault(fixture('fault-invalid-power-state.txt'))!;
    expect(fault).toEqual({
      type: 'vim.fault.InvalidPowerState',
      name: 'InvalidPowerState',
      message: 'The attempted operation cannot be performed in the current state (Powered on).',
      preamble: ['Power on failed'],
    });
    expect(describeVimFault(fault)).toBe(
      'InvalidPowerState: The attempted operation cannot be performed in the current state (Powered on).',
    );
  });

  it('reads vmodl faults and truncated blocks', () => {
    const out = `(vmodl.fault.ManagedObjectNotFound) {\n   faultCause = (vmodl.MethodFault) null,\n   obj = 'vim.VirtualMachine:99',\n   msg = "The object 'vim.VirtualMachine:99' has already been deleted or has not been completely created"\n`;
    const fault = findVimFault(out)!;
    expect(fault.name).toBe('ManagedObjectNotFound');
    expect(fault.message).toContain('has already been deleted');
  });

  it('finds nothing in ordinary output', () => {
    expect(findVimFault(fixture('get-summary-on.txt'))).toBeUndefined();
    expect(findVimFault('Get Snapshot:\n')).toBeUndefined();
  });
});
