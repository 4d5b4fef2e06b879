// The job file's schema (zod): hosts, defaults, VM selections with overrides, concurrency, notifications.

import { z } from 'zod';
import { notifyTargetSchema } from '../notify/index.js';

const positiveSeconds = z.number().positive().max(7 * 24 * 3600);
const count = z.number().int().nonnegative();

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export const hostSchema = z
  .strictObject({
    address: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1).default('root'),
    /** A file only its owner can read, holding the password. */
    passwordFile: z.string().min(1).optional(),
    /** The name of an environment variable holding the password. */
    passwordEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name').optional(),
    /** Inline: accepted only when the job file itself is readable by its owner alone (see load.ts). */
    password: z.string().min(1).optional(),
    identity: z.string().min(1).optional(),
    hostKey: z.string().regex(FINGERPRINT, 'a fingerprint like SHA256:<43 base64 characters>, as ssh-keygen -lf prints it').optional(),
    knownHosts: z.string().min(1).optional(),
    commandSet: z.enum(['auto', 'vim-cmd', 'vmware-cmd']).default('auto'),
  })
  .refine((h) => [h.passwordFile, h.passwordEnv, h.password].filter((x) => x !== undefined).length <= 1, {
    message: 'give one of passwordFile, passwordEnv, password',
  })
  .refine((h) => h.passwordFile ?? h.passwordEnv ?? h.password ?? h.identity, {
    message: 'no credentials: give passwordFile, passwordEnv or identity (a key file)',
  })
  .refine((h) => h.hostKey ?? h.knownHosts, {
    message: 'no host key: give hostKey (SHA256:... as ssh-keygen -lf prints it) or knownHosts (an OpenSSH known_hosts file); a job never trusts a host on first use',
  });

export const keepSchema = z.strictObject({
  last: count.optional(),
  hourly: count.optional(),
  daily: count.optional(),
  weekly: count.optional(),
  monthly: count.optional(),
  yearly: count.optional(),
});

/** Everything `defaults` may set, and each `vms` entry may override. */
export const backupSettingsShape = {
  type: z.enum(['fullvm', 'file']),
  mode: z.enum(['nbd', 'nbdssl', 'san']),
  /** Placeholders {host} {vm} {moref} {time} {date} {job}; {time} in the last component (the VM's backups are siblings). */
  destination: z.string().min(1),
  keep: keepSchema,
  verify: z.boolean(),
  quiesce: z.boolean(),
  requireQuiesce: z.boolean(),
  monolithic: z.boolean(),
  cold: z.boolean(),
  hardPowerOff: z.boolean(),
  excludeDisks: z.array(z.string().regex(/^(scsi|ide|sata|nvme)\d+:\d+$/, 'a disk slot as in the .vmx, like scsi0:1')),
  preexistingSnapshot: z.enum(['fail', 'delete']),
  agent: z.string().min(1),
  agentShell: z.boolean(),
  agentPreset: z.enum(['restic', 'borg']),
  stream: z.boolean(),
  hook: z.string().min(1),
  /** Seconds. vm bounds one VM's whole backup; the others are the single-backup flags of the same names. */
  timeouts: z.strictObject({
    vm: positiveSeconds.optional(),
    snapshot: positiveSeconds.optional(),
    command: positiveSeconds.optional(),
    cleanup: positiveSeconds.optional(),
    agent: positiveSeconds.optional(),
    hook: positiveSeconds.optional(),
    shutdown: positiveSeconds.optional(),
  }),
  /** Tries again what is safe to retry: a connection that failed, a VM locked by another run. */
  retries: z.strictObject({ attempts: z.number().int().min(0).max(10).optional(), wait: positiveSeconds.optional() }),
} as const;

const settingsSchema = z.strictObject(backupSettingsShape).partial();

export const vmEntrySchema = settingsSchema.extend({
  host: z.string().min(1),
  select: z.array(z.string().min(1)).min(1).default(['any']),
  exclude: z.array(z.string().min(1)).default([]),
});

export const concurrencySchema = z.strictObject({
  total: z.number().int().min(1).max(64).default(1),
  perHost: z.number().int().min(1).max(64).optional(),
  perDatastore: z.number().int().min(1).max(64).optional(),
});

export const jobFileSchema = z.strictObject({
  hosts: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'a host name of letters, digits, ".", "_" and "-"'), hostSchema),
  defaults: settingsSchema.default({}),
  concurrency: concurrencySchema.default({ total: 1 }),
  vms: z.array(vmEntrySchema).min(1),
  notify: z.array(notifyTargetSchema).default([]),
  /** Locks, journals (default as for a single backup). */
  stateDir: z.string().min(1).optional(),
});

export type JobFile = z.infer<typeof jobFileSchema>;
export type HostEntry = z.infer<typeof hostSchema>;
export type VmEntry = z.infer<typeof vmEntrySchema>;
export type BackupSettings = z.infer<typeof settingsSchema>;
export type KeepSettings = z.infer<typeof keepSchema>;
