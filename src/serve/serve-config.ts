// What the disk server is told on its stdin when it starts: which disks to serve where, read from the host (how to reach it) or from a local export (secrets never on its argv).

import { z } from 'zod';

const extentSchema = z.object({
  kind: z.enum(['mapped', 'hole', 'unzeroed']),
  fileOffset: z.number().int().nonnegative(),
  length: z.number().int().nonnegative(),
}).passthrough();

export const servedDiskSchema = z.object({
  /** The export name and the log's name for it: the disk's slot (scsi0:0). */
  name: z.string().min(1),
  socketPath: z.string().min(1),
  dataPath: z.string().min(1),
  blockMap: z.object({ extents: z.array(extentSchema) }).passthrough(),
  capacity: z.number().int().positive(),
  /** Users' snapshot deltas under ours, fetched to this proxy, oldest first. */
  deltas: z.array(z.string()).default([]),
  /** Read through the host even with -m san (a virtual-mode RDM's bytes are not on the datastore LUN). */
  throughHost: z.boolean().default(false),
});

/** A -t file run's: the snapshot disks, read from the host or its LUN. */
export const hostServeConfigSchema = z.object({
  source: z.literal('host'),
  connect: z.object({
    host: z.string(),
    port: z.number().int(),
    user: z.string(),
    password: z.string().optional(),
    identityFile: z.string().optional(),
    /** The fingerprint the run saw: the server talks only to that host. */
    hostKey: z.string(),
    commandSet: z.enum(['auto', 'vim-cmd', 'vmware-cmd']),
    commandTimeoutMs: z.number().int().positive(),
  }),
  mode: z.enum(['nbd', 'nbdssl', 'san']),
  lunMap: z.record(z.string(), z.string()).default({}),
  logFile: z.string(),
  logLevel: z.number().int().min(0).max(6),
  disks: z.array(servedDiskSchema).min(1),
});

/** One disk of a fullvm export on this proxy: its descriptor (the extents are found through it). */
export const exportDiskSchema = z.object({
  name: z.string().min(1),
  socketPath: z.string().min(1),
  descriptorPath: z.string().min(1),
  capacity: z.number().int().positive(),
});

/** mount-backup's: the disks of a fullvm export, read from this proxy's files; no host is contacted. */
export const exportServeConfigSchema = z.object({
  source: z.literal('export'),
  logFile: z.string(),
  logLevel: z.number().int().min(0).max(6),
  disks: z.array(exportDiskSchema).min(1),
});

export const serveConfigSchema = z.discriminatedUnion('source', [hostServeConfigSchema, exportServeConfigSchema]);

export type ServeConfig = z.infer<typeof serveConfigSchema>;
export type HostServeConfig = z.infer<typeof hostServeConfigSchema>;
export type ExportServeConfig = z.infer<typeof exportServeConfigSchema>;
export type ServedDisk = z.infer<typeof servedDiskSchema>;

/** The one line the server prints on stdout when every socket listens (or why it could not start). */
export type ServeReady = { ready: true; pid: number } | { ready: false; error: string };
