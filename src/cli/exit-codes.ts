// The one place errors become exit codes; documented in docs/exit-codes.md and in --help.

import type { ErrorCode } from '../errors.js';

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  CONNECT: 3,
  VM_NOT_FOUND: 4,
  LOCKED: 5,
  SNAPSHOT: 6,
  EXPORT: 7,
  CLEANUP: 8,
  MOUNT: 9,
  AGENT: 10,
  HOOK: 11,
  /** `snapshot find` (and `snapshot remove --id`): no such snapshot. */
  NO_SNAPSHOT: 15,
  /** `restore --drill`: the restored VM never reported a VMware Tools heartbeat (it was removed). */
  NO_HEARTBEAT: 16,
  /** SIGINT; SIGTERM gives 143 and SIGHUP 129 (128 + the signal's number, see signalExitCode). */
  INTERRUPTED: 130,
} as const;

const BY_CODE: Record<ErrorCode, number> = {
  USAGE: EXIT.USAGE,
  CONFIG: EXIT.USAGE,
  CONNECT: EXIT.CONNECT,
  HOST_KEY: EXIT.CONNECT,
  VM_NOT_FOUND: EXIT.VM_NOT_FOUND,
  VM_AMBIGUOUS: EXIT.VM_NOT_FOUND,
  LOCKED: EXIT.LOCKED,
  SNAPSHOT: EXIT.SNAPSHOT,
  NO_SNAPSHOT: EXIT.NO_SNAPSHOT,
  QUIESCE: EXIT.SNAPSHOT,
  DATASTORE_FULL: EXIT.SNAPSHOT,
  HOST_COMMAND: EXIT.FAILED,
  EXPORT: EXIT.EXPORT,
  DESTINATION: EXIT.EXPORT,
  INTERRUPTED: EXIT.INTERRUPTED,
  CLEANUP: EXIT.CLEANUP,
  MOUNT: EXIT.MOUNT,
  AGENT: EXIT.AGENT,
  HOOK: EXIT.HOOK,
  SETTLING: EXIT.CLEANUP,
  POWER: EXIT.SNAPSHOT,
  NO_HEARTBEAT: EXIT.NO_HEARTBEAT,
  INTERNAL: EXIT.FAILED,
};

/** `vcbmounter run JOB`: the run as a whole (each VM's own code is in the summary). */
export const RUN_EXIT = {
  OK: 0,
  USAGE: 2,
  SOME_FAILED: 12,
  ALL_FAILED: 13,
  JOB_LOCKED: 14,
} as const;

export function exitCodeFor(code: ErrorCode): number {
  return BY_CODE[code];
}

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failed (host command or internal error); nothing left behind
  2    usage: bad flags or input
  3    cannot connect: network, authentication or host key
  4    VM not found or ambiguous
  5    another backup of this VM is running (lock held)
  6    snapshot or quiesce failed, or the VM's datastore is full; --cold: the guest
       could not be shut down (no VMware Tools, --shutdown-timeout) or powered off/on
  7    export or destination failed (destination exists, full, unreadable disk);
       verify: the export does not match its catalog
  8    something could not be released (e.g. the backup snapshot), whatever failed first;
       the message says what is left: run "vcbmounter cleanup"
  9    -t file: this proxy cannot mount guest volumes (not root, no FUSE or loop
       devices, a program missing); nothing was acquired
  10   --agent: the backup program failed, timed out or was killed; the snapshot and
       mounts are released (a fullvm export stays in -r)
  11   --hook: the script failed at job-start, backup-start, pre-snapshot, post-snapshot,
       backup-end or job-end; everything is released (a fullvm export made stays in -r)
  12   run JOB: some VMs failed (or a selection found nothing); the others are backed up
  13   run JOB: every VM failed
  14   run JOB: the same job file is already running (an overlapping cron run)
  15   snapshot find: the VM has no _VCB-BACKUP_ snapshot (snapshot remove --id: no such id)
  16   restore --drill: the restored VM powered on but never reported a VMware Tools
       heartbeat within --drill-timeout (the backup may not boot); it was removed
  129  interrupted by SIGHUP; cleanup ran
  130  interrupted by SIGINT (Ctrl-C); cleanup ran
  143  interrupted by SIGTERM; cleanup ran`;
