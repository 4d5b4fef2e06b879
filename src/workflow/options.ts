// Validated options of a backup run: what the CLI (or a job runner) hands to the workflow.
//
// zod/mini (the same zod, with functions in place of methods) because every run loads this schema: the
// classic API would add about 700 KB to the CLI's bundle and some 25 ms to each start.

import * as z from 'zod/mini';
import '../util/zod-messages.js';
import { hostConnectionFields } from './host-connection-schema.js';

export { BACKUP_SNAPSHOT_NAME } from '../esx/index.js';

export const backupOptionsSchema = z.object({
  ...hostConnectionFields,
  selector: z.string().check(z.minLength(1)),
  /** -r; empty only with stream, which writes no directory. */
  dir: z.string(),
  type: z._default(z.enum(['fullvm', 'file']), 'fullvm'),
  mode: z._default(z.enum(['san', 'nbd', 'nbdssl', 'hotadd']), 'nbd'),
  monolithic: z._default(z.boolean(), true),
  preexistingMountpoint: z._default(z.enum(['fail', 'delete']), 'fail'),
  preexistingSnapshot: z._default(z.enum(['fail', 'delete']), 'fail'),
  requireQuiesce: z._default(z.boolean(), false),
  quiesce: z._default(z.boolean(), true),
  /** LVID or volume uuid -> local path of the LUN (device or image), for -m san. */
  lunMap: z._default(z.record(z.string(), z.string()), {}),
  stateDir: z.optional(z.string()),
  snapshotTimeoutMs: z._default(z.int().check(z.positive()), 15 * 60_000),
  cleanupTimeoutMs: z._default(z.int().check(z.positive()), 5 * 60_000),
  /** A host command (other than a snapshot create/remove) that sends nothing for this long fails. */
  commandTimeoutMs: z._default(z.int().check(z.positive()), 5 * 60_000),
  /** Further connection attempts after a failure the network may clear (see workflow/connect.ts). */
  connectRetries: z._default(z.int().check(z.nonnegative()), 2),
  dryRun: z._default(z.boolean(), false),
  /** The backup program run on the ready export or mount (see agent/run-agent.ts); the run releases everything after it. */
  agent: z.optional(z.string().check(z.minLength(1))),
  agentShell: z._default(z.boolean(), false),
  /** restic or borg with vcbmounter's own argv for them (see agent/presets.ts), in place of agent. */
  agentPreset: z.optional(z.enum(['restic', 'borg'])),
  agentTimeoutMs: z._default(z.int().check(z.positive()), 12 * 3600_000),
  /** fullvm into the agent's stdin as one tar, without an export directory (see export/stream-vm.ts). */
  stream: z._default(z.boolean(), false),
  /** A program run at each phase of the job with the phase as its argument (see hooks/run-hook.ts). */
  hook: z.optional(z.string().check(z.minLength(1))),
  hookTimeoutMs: z._default(z.int().check(z.positive()), 3600_000),
  /** Controller slots (`scsi0:1`, as in the .vmx and the catalog's `slot`) left out of the backup; each must name a disk of the VM. */
  excludeDisks: z._default(z.array(z.string().check(z.regex(/^(scsi|ide|sata|nvme)\d+:\d+$/i, 'a controller slot as the .vmx names a disk, like scsi0:1 or ide0:0'))), []),
  /**
   * Cold backup (see steps/shut-down-vm.ts): the guest is shut down cleanly before the snapshot and powered on
   * again right after it. A VM that is off at the start is left off.
   */
  cold: z._default(z.boolean(), false),
  /** How long the clean guest shutdown of a cold backup may take. */
  shutdownTimeoutMs: z._default(z.int().check(z.positive()), 10 * 60_000),
  /** Cold backup: power the VM off hard when the clean shutdown times out or cannot be asked for (no VMware Tools). */
  hardPowerOff: z._default(z.boolean(), false),
});

export type BackupOptions = z.infer<typeof backupOptionsSchema>;
export type BackupOptionsInput = z.input<typeof backupOptionsSchema>;
