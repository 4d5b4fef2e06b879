// `.vcbmounter-verified.json`: the record that an export's disks were read back and matched its catalog (written atomically).

import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import * as z from 'zod/mini';
import '../util/zod-messages.js';
import { VcbError } from '../errors.js';
import { TOOL_VERSION } from '../version.js';
import { CATALOG_FILE, parseCatalog, type Catalog } from './catalog.js';
import { fsyncPath } from './fsync-path.js';

export const VERIFIED_FILE = '.vcbmounter-verified.json';

const verifiedRecordSchema = z.object({
  format: z.literal('vcbmounter-verified'),
  version: z.literal(1),
  /** The catalog's runId: a record copied next to another run's catalog does not count. */
  runId: z.string().check(z.minLength(1)),
  verifiedAt: z.iso.datetime(),
  toolVersion: z.string(),
  disks: z.array(z.object({ descriptorFile: z.string().check(z.minLength(1)), digest: z.string().check(z.minLength(1)) })),
});

export type VerifiedRecord = z.infer<typeof verifiedRecordSchema>;

export interface VerifiedDisk {
  descriptorFile: string;
  /** The digest the read-back computed (see block-digest.ts), `sha256:...`. */
  digest: string;
}

/** Whether the disks' digests are exactly the catalog's: same descriptor files, each with the catalog's digest. */
function sameDisks(catalog: Catalog, disks: readonly VerifiedDisk[]): boolean {
  if (disks.length !== catalog.disks.length) return false;
  const recorded = new Map(disks.map((d) => [d.descriptorFile, d.digest]));
  if (recorded.size !== disks.length) return false;
  return catalog.disks.every((d) => recorded.get(d.descriptorFile) === d.digest);
}

/**
 * Writes `<dir>/.vcbmounter-verified.json` (temporary file, fsync, rename, fsync of dir) for the catalog
 * now in dir. Refuses (VcbError EXPORT) when the given digests are not the catalog's: a record that does
 * not match would never count, and writing one would only hide that the read-back found a difference.
 */
export async function markVerified(dir: string, details: { disks: readonly VerifiedDisk[]; verifiedAt?: Date }): Promise<string> {
  let catalog: Catalog;
  try {
    catalog = parseCatalog(await readFile(join(dir, CATALOG_FILE), 'utf8'));
  } catch (error) {
    throw new VcbError('EXPORT', `cannot record ${dir} as verified: its catalog cannot be read (${(error as Error).message})`, {}, { cause: error });
  }
  if (!sameDisks(catalog, details.disks)) {
    const got = details.disks.map((d) => `${d.descriptorFile}=${d.digest}`).join(', ') || 'no disks';
    const want = catalog.disks.map((d) => `${d.descriptorFile}=${d.digest}`).join(', ') || 'no disks';
    throw new VcbError('EXPORT', `cannot record ${dir} as verified: the digests read back (${got}) are not the catalog's (${want})`);
  }
  const record: VerifiedRecord = {
    format: 'vcbmounter-verified',
    version: 1,
    runId: catalog.runId,
    verifiedAt: (details.verifiedAt ?? new Date()).toISOString(),
    toolVersion: TOOL_VERSION,
    disks: details.disks.map((d) => ({ descriptorFile: d.descriptorFile, digest: d.digest })),
  };
  const path = join(dir, VERIFIED_FILE);
  const temporary = `${path}.tmp-${process.pid}`;
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(`${JSON.stringify(record, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
    await fsyncPath(dir);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => {});
    throw new VcbError('DESTINATION', `cannot write ${path}: ${(error as Error).message}`, {}, { cause: error });
  }
  return path;
}

/** The record in dir, or undefined when there is none or it does not parse (either way: not verified). */
export async function readVerifiedRecord(dir: string): Promise<VerifiedRecord | undefined> {
  try {
    return verifiedRecordSchema.parse(JSON.parse(await readFile(join(dir, VERIFIED_FILE), 'utf8')));
  } catch {
    return undefined;
  }
}

/**
 * True only if dir holds a record that parses, names the catalog's run, and lists exactly the catalog's
 * disk digests: a catalog written again (another run, another disk set) invalidates an older record.
 */
export async function isVerified(dir: string, catalog: Catalog): Promise<boolean> {
  const record = await readVerifiedRecord(dir);
  return record !== undefined && record.runId === catalog.runId && sameDisks(catalog, record.disks);
}

/**
 * Removes dir's record, if any (a verify that found the export damaged: a record left from an earlier
 * verify would go on counting it for retention). Returns whether there was one.
 */
export async function clearVerified(dir: string): Promise<boolean> {
  const path = join(dir, VERIFIED_FILE);
  try {
    await rm(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new VcbError('DESTINATION', `cannot remove ${path}: ${(error as Error).message}`, {}, { cause: error });
  }
  await fsyncPath(dir);
  return true;
}
