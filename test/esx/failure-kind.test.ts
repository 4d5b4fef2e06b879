// hostFailureKind: a failed command's kind read from the host's own answer, where the answer is parsed.

import { describe, expect, it } from 'vitest';
import { hostFailureKind } from '../../src/esx/parse/failure-kind.js';

const vimFault = (type: string, msg: string) => ({ exitCode: 1, stderr: '', stdout: `Create Snapshot:\n(${type}) {\n   faultCause = (vmodl.MethodFault) null,\n   msg = "${msg}"\n}\n` });

describe('hostFailureKind', () => {
  it.each([
    ['vim.fault.ApplicationQuiesceFault', 'An error occurred while quiescing the virtual machine.', 'quiesce'],
    ['vim.fault.ToolsUnavailable', 'Cannot create a quiesced snapshot because VMware Tools is not running.', 'quiesce'],
    ['vim.fault.NoDiskSpace', 'msg.hbacommon.outofspace: There is no more space for virtual disk vm1-000001.vmdk.', 'datastore-full'],
    ['vim.fault.FileFault', 'An error occurred while saving the snapshot: Insufficient disk space on datastore.', 'datastore-full'],
    // A host that wraps the failed save of a quiesced snapshot in a quiesce fault: the space is the cause.
    ['vim.fault.ApplicationQuiesceFault', 'An error occurred while saving the snapshot: Insufficient disk space on datastore.', 'datastore-full'],
    ['vim.fault.GenericVmConfigFault', 'injected create failure', undefined],
    ['vim.fault.TaskInProgress', 'Another task is already in progress.', undefined],
  ])('%s "%s" → %s', (type, msg, kind) => {
    expect(hostFailureKind(vimFault(type, msg))).toBe(kind);
  });

  it('reads vmware-cmd (ESX 3.x) VMControl errors by their words, and stderr of stock commands', () => {
    expect(hostFailureKind({ exitCode: 1, stdout: '', stderr: 'VMControl error -8: An error occurred while quiescing the virtual machine.\n' })).toBe('quiesce');
    expect(hostFailureKind({ exitCode: 1, stdout: '', stderr: 'VMControl error -1: Insufficient disk space on datastore.\n' })).toBe('datastore-full');
    expect(hostFailureKind({ exitCode: 1, stdout: '', stderr: 'Failed to clone disk : No space left on device (1835017).\n' })).toBe('datastore-full');
    expect(hostFailureKind({ exitCode: 1, stdout: '', stderr: 'cat: can\'t open \'x\': No such file or directory\n' })).toBeUndefined();
  });
});
