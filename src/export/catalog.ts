// The `catalog` file of a fullvm export: what was backed up, from where, and how to put it back (zod schema,
// in zod/mini's functional form: every run writes one, and the classic API costs each start some 25 ms).

import * as z from 'zod/mini';
import '../util/zod-messages.js';

export const CATALOG_FILE = 'catalog';

export const catalogDiskSchema = z.object({
  /** Controller slot as in the .vmx, e.g. `scsi0:1`. */
  slot: z.string().check(z.minLength(1)),
  /** Where the disk lived: `[datastore] dir/name.vmdk` (edit to redirect a restore). */
  sourceDatastorePath: z.string().check(z.minLength(1)),
  /** Present when the source was a raw device mapping in virtual compatibility mode (exported as an ordinary flat disk). */
  rdm: z.optional(z.literal('virtual')),
  descriptorFile: z.string().check(z.minLength(1)),
  extentFiles: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
  blocksFile: z.string().check(z.minLength(1)),
  capacity: z.int().check(z.positive()),
  thin: z.boolean(),
  adapterType: z.string(),
  /** Allocated bytes on the source datastore (mapped + unzeroed blocks of the base disk). */
  allocatedBytes: z.int().check(z.nonnegative()),
  /** Users' snapshot deltas laid over the base, oldest first (host paths). */
  snapshotDeltas: z.array(z.string()),
  /** The checksum of each line of `blocksFile` (block-digest.ts); absent in version 1 catalogs, which hold sha256. */
  blockHash: z.optional(z.enum(['xxh64', 'sha256'])),
  /** See block-digest.ts: sha256 over the list of non-zero 1 MiB block checksums. */
  digest: z.string().check(z.regex(/^sha256:[0-9a-f]{64}$/)),
});

export const skippedDiskSchema = z.object({
  slot: z.string().check(z.minLength(1)),
  sourceDatastorePath: z.string(),
  reason: z.enum(['independent', 'physical-rdm', 'excluded', 'other']),
  detail: z.string(),
});

export const catalogSchema = z.object({
  format: z.literal('vcbmounter-catalog'),
  /** 2 since block lists hold xxh64 (each disk's `blockHash`); 1 before, sha256. Both are read. */
  version: z.union([z.literal(1), z.literal(2)]),
  toolVersion: z.string(),
  runId: z.string().check(z.minLength(1)),
  backupType: z.literal('fullvm'),
  transportMode: z.enum(['nbd', 'nbdssl', 'san']),
  diskLayout: z.enum(['monolithicFlat', 'twoGbMaxExtentFlat']),
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  host: z.object({ name: z.string().check(z.minLength(1)), version: z.string() }),
  vm: z.object({
    name: z.string(),
    vmid: z.optional(z.string()),
    biosUuid: z.optional(z.string()),
    /** `[datastore] dir/vm.vmx` the VM was registered from. */
    vmxDatastorePath: z.string().check(z.minLength(1)),
    /** The exported (rewritten) .vmx in this directory. */
    vmxFile: z.string().check(z.minLength(1)),
  }),
  snapshot: z.object({ name: z.string().check(z.minLength(1)), id: z.optional(z.string()), quiesced: z.boolean(), cold: z.optional(z.enum(['shut-down', 'powered-off-hard', 'was-off'])) }),
  /** Small VM files copied as they were (nvram, vmsd, logs). */
  files: z.array(z.string()),
  disks: z.array(catalogDiskSchema),
  skippedDisks: z.array(skippedDiskSchema),
  warnings: z.array(z.string()),
}).check(
  // Without it a version 2 disk would be read as version 1's sha256, and every block would differ.
  z.refine((c) => c.version === 1 || c.disks.every((d) => d.blockHash !== undefined), { message: 'a version 2 catalog names each disk\'s blockHash', path: ['disks'] }),
);

export type Catalog = z.infer<typeof catalogSchema>;
export type CatalogDisk = z.infer<typeof catalogDiskSchema>;
export type SkippedDisk = z.infer<typeof skippedDiskSchema>;

export function formatCatalog(catalog: Catalog): string {
  return `${JSON.stringify(catalogSchema.parse(catalog), null, 2)}\n`;
}

/** Parses a catalog file's text; throws a ZodError naming the bad field. */
export function parseCatalog(text: string): Catalog {
  return catalogSchema.parse(JSON.parse(text));
}
