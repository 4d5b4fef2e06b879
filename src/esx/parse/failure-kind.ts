// What kind of failure a host's answer reports (a quiesce, a full datastore), read from its fault type or error text where it is parsed.

import type { ExecResult } from '../../transport/types.js';
import { findVmControlError } from './vmware-cmd.js';
import { findVimFault } from './vim-fault.js';

export type HostFailureKind = 'quiesce' | 'datastore-full';

/** vim-cmd fault types that mean the guest could not be quiesced. */
const QUIESCE_FAULTS = new Set(['ApplicationQuiesceFault', 'ToolsUnavailable', 'ToolsUnavailableFault']);
/** vim-cmd fault types that mean the datastore has no room. */
const SPACE_FAULTS = new Set(['NoDiskSpace', 'OutOfBounds']);
/** How hosts word a full datastore: VMkernel's errno text, hostd's message, the message id some builds print. */
const SPACE_TEXT = /no space left on device|insufficient (disk )?space|outofspace|not enough space/i;

/**
 * The kind of a failed command's answer, when it is one the caller must tell apart; undefined otherwise.
 * vim-cmd names its fault types; vmware-cmd (ESX 3.x) prints only a VMControl message, read by its words.
 */
export function hostFailureKind(result: ExecResult): HostFailureKind | undefined {
  const combined = `${result.stdout}\n${result.stderr}`;
  const fault = findVimFault(combined);
  if (fault) {
    // Space first: a host may wrap the failed save of a quiesced snapshot in a quiesce fault.
    if (SPACE_FAULTS.has(fault.name) || SPACE_TEXT.test(fault.message)) return 'datastore-full';
    if (QUIESCE_FAULTS.has(fault.name)) return 'quiesce';
    return undefined;
  }
  const vmControl = findVmControlError(combined);
  const text = vmControl ? vmControl.message : combined;
  if (SPACE_TEXT.test(text)) return 'datastore-full';
  if (vmControl && /quiesc|VMware Tools/i.test(vmControl.message)) return 'quiesce';
  return undefined;
}
