// Validated options of a backup run: what the CLI (or a job runner) hands to the workflow.

import { z } from 'zod';

export const BACKUP_SNAPSHOT_NAME = '_VCB-BACKUP_';

export const backupOptionsSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).default('root'),
  /** Resolved by the CLI from -p, -p -, --password-file or the environment; never logged. */
  password: z.string().optional(),
  identityFile: z.string().optional(),
  hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'a fingerprint like SHA256:<43 base64 characters>, as ssh-keygen -lf prints it').optional(),
  knownHosts: z.string().optional(),
  acceptNewHostKey: z.boolean().default(false),
  selector: z.string().min(1),
  dir: z.string().min(1),
  type: z.enum(['fullvm', 'file']).default('fullvm'),
  mode: z.enum(['san', 'nbd', 'nbdssl', 'hotadd']).default('nbd'),
  monolithic: z.boolean().default(true),
  commandSet: z.enum(['auto', 'vim-cmd', 'vmware-cmd']).default('auto'),
  preexistingMountpoint: z.enum(['fail', 'delete']).default('fail'),
  preexistingSnapshot: z.enum(['fail', 'delete']).default('fail'),
  requireQuiesce: z.boolean().default(false),
  quiesce: z.boolean().default(true),
  /** LVID or volume uuid -> local path of the LUN (device or image), for -m san. */
  lunMap: z.record(z.string(), z.string()).default({}),
  stateDir: z.string().optional(),
  snapshotTimeoutMs: z.number().int().positive().default(15 * 60_000),
  cleanupTimeoutMs: z.number().int().positive().default(5 * 60_000),
  dryRun: z.boolean().default(false),
});

export type BackupOptions = z.infer<typeof backupOptionsSchema>;
export type BackupOptionsInput = z.input<typeof backupOptionsSchema>;
