import { describe, expect, it } from 'vitest';
import { parsePowerGetState, powerStateFromApi } from '../../src/esx/parse/power-state.js';
import { parseVmwareVersion } from '../../src/esx/parse/version.js';
import { catchVcbError } from './catch-error.js';

describe('parsePowerGetState', () => {
  it.each([
    ['Retrieved runtime info\nPowered on\n', 'on'],
    ['Retrieved runtime info\r\nPowered off\r\n', 'off'],
    ['Retrieved runtime info\n  Suspended  \n\n', 'suspended'],
    ['Powered  On\n', 'on'],
  ])('reads %j', (out, state) => {
    expect(parsePowerGetState(out)).toBe(state);
  });

  it.each([
    ['Retrieved runtime info\nPowering on\n', 'line 2'],
    ['Retrieved runtime info\n', 'no power state'],
    ['Powered on\nPowered off\n', 'more than one'],
  ])('rejects %j', (out, mention) => {
    const err = catchVcbError(() => parsePowerGetState(out, ['vim-cmd', 'vmsvc/power.getstate', '4']));
    expect(err.message).toContain(mention);
    expect(err.context.command).toEqual(['vim-cmd', 'vmsvc/power.getstate', '4']);
  });

  it('maps API enum values', () => {
    expect(powerStateFromApi('poweredOn')).toBe('on');
    expect(powerStateFromApi('poweredOff')).toBe('off');
    expect(powerStateFromApi('suspended')).toBe('suspended');
    expect(powerStateFromApi('unknown')).toBeUndefined();
  });
});

describe('parseVmwareVersion', () => {
  it.each([
    ['VMware ESXi 6.7.0 build-8169922\n', { product: 'VMware ESXi', version: '6.7.0', major: 6, build: '8169922', esxi: true }],
    ['VMware ESX Server 3.5.0 build-64607\n', { product: 'VMware ESX Server', version: '3.5.0', major: 3, build: '64607', esxi: false }],
    ['VMware ESX 4.1.0 build-260247\n', { product: 'VMware ESX', version: '4.1.0', major: 4, build: '260247', esxi: false }],
    ['VMware ESX Server 3i 3.5.0 build-123629\n', { product: 'VMware ESX Server 3i', version: '3.5.0', esxi: true }],
    ['VMware ESXi 7.0.3 build-19193900\n', { version: '7.0.3', major: 7, esxi: true }],
    ['VMware ESXi 5.5.0 Update 3 build-3116895\n', { version: '5.5.0', build: '3116895' }],
  ])('reads %j', (out, expected) => {
    expect(parseVmwareVersion(out)).toMatchObject(expected);
  });

  it('names the line it could not read', () => {
    const err = catchVcbError(() => parseVmwareVersion('sh: vmware: not found\n'));
    expect(err.message).toContain('vmware -v');
    expect(err.message).toContain('sh: vmware: not found');
    expect(err.context.command).toEqual(['vmware', '-v']);
  });
});
