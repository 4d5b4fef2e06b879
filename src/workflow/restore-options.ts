// Validated options of a restore run (`vcbmounter restore`): where the backup is, where it goes, what to do with a VM in the way.

import * as z from 'zod/mini';
import '../util/zod-messages.js';
import { hostConnectionFields } from './host-connection-schema.js';

export const restoreOptionsSchema = z.object({
  ...hostConnectionFields,
  /** -s: the fullvm export directory. */
  source: z.string().check(z.minLength(1)),
  /** --catalog: an edited copy of the export's catalog that redirects the restore (datastore, folder, name). */
  catalogFile: z.optional(z.string().check(z.minLength(1))),
  /** --datastore: overrides the catalog's. */
  datastore: z.optional(z.string().check(z.minLength(1))),
  /** --name: the restored VM's display name (the catalog's otherwise). */
  name: z.optional(z.string().check(z.minLength(1))),
  /** --folder: the directory on the datastore, relative to its root. */
  folder: z.optional(z.string().check(z.minLength(1))),
  /** -b: what to do when a VM of the target name is registered. */
  policy: z._default(z.enum(['fail', 'overwrite', 'rename']), 'fail'),
  powerOn: z._default(z.boolean(), false),
  /** --drill: restore under a temporary name, power on, wait for a Tools heartbeat, then remove it all. */
  drill: z._default(z.boolean(), false),
  /** --drill-timeout: how long a drill waits for the heartbeat after the power-on. */
  drillTimeoutMs: z._default(z.int().check(z.positive()), 10 * 60_000),
  dryRun: z._default(z.boolean(), false),
  stateDir: z.optional(z.string()),
  cleanupTimeoutMs: z._default(z.int().check(z.positive()), 5 * 60_000),
  commandTimeoutMs: z._default(z.int().check(z.positive()), 5 * 60_000),
  connectRetries: z._default(z.int().check(z.nonnegative()), 2),
  /** Disk writes (one SSH channel each) in flight at once. */
  parallelWrites: z._default(z.int().check(z.positive(), z.lte(8)), 3),
});

export type RestoreOptions = z.infer<typeof restoreOptionsSchema>;
export type RestoreOptionsInput = z.input<typeof restoreOptionsSchema>;
