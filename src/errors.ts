// The error every layer raises to the CLI: a stable code, where it happened, and the cause chain.

export type ErrorCode =
  | 'USAGE' // bad flags or input
  | 'CONFIG'
  | 'CONNECT' // cannot reach or log in to the host
  | 'HOST_KEY'
  | 'VM_NOT_FOUND'
  | 'VM_AMBIGUOUS'
  | 'LOCKED' // another backup of the VM is running
  | 'SNAPSHOT' // snapshot create/remove failed
  | 'NO_SNAPSHOT' // `snapshot find|remove --id`: the VM has no such snapshot (an answer for scripts, not a failure of the host)
  | 'QUIESCE' // the guest could not be quiesced (Tools, freeze scripts, VSS)
  | 'DATASTORE_FULL' // the host's datastore has no room (for a snapshot's delta, or to consolidate it)
  | 'HOST_COMMAND' // a host command failed or printed something unexpected
  | 'EXPORT' // reading disks or writing the export failed
  | 'DESTINATION' // destination exists / not writable / full
  | 'INTERRUPTED'
  | 'CLEANUP' // the backup may have succeeded but cleanup did not
  | 'MOUNT' // -t file: this proxy cannot mount the guest volumes (root, FUSE, loop devices, a tool)
  | 'AGENT' // --agent: the backup program failed, hung past --agent-timeout, or was killed
  | 'HOOK' // --hook: the user's script failed at a phase that decides the run
  | 'SETTLING' // not released yet: a create the host may still finish is being waited for
  | 'NO_HEARTBEAT' // restore --drill: the restored VM powered on but its guest never reported a VMware Tools heartbeat
  | 'POWER' // --cold: the guest could not be shut down (no VMware Tools, timed out) or the VM powered on or off
  | 'INTERNAL';

export interface ErrorContext {
  vm?: string;
  step?: string;
  /** The remote command as argv (never holds secrets). */
  command?: readonly string[];
}

export class VcbError extends Error {
  override name = 'VcbError';
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.context = context;
  }
}
