// Checks a backup that exited 0: every disk against its catalog (block list and digest), and each descriptor with qemu-img check.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { parseCatalog } from '../../src/export/catalog.js';
import { verifyExportDisk } from '../../src/export/verify.js';

/** undefined until the first check tells whether qemu-img is installed. */
let qemuImg: boolean | undefined;

export function qemuImgAvailable(): boolean | undefined {
  return qemuImg;
}

/** Problems found in the export directory; empty when it is a complete, consistent backup. */
export async function verifyBackup(dir: string): Promise<string[]> {
  const problems: string[] = [];
  let catalog;
  try {
    catalog = parseCatalog(readFileSync(join(dir, 'catalog'), 'utf8'));
  } catch (e) {
    return [`${dir}: no readable catalog: ${(e as Error).message}`];
  }
  if (catalog.disks.length === 0) problems.push(`${dir}: the catalog lists no disk`);
  for (const disk of catalog.disks) {
    try {
      const v = await verifyExportDisk(dir, disk);
      if (!v.ok) problems.push(`${dir}/${disk.descriptorFile}: digest ${v.actualDigest}, catalog says ${v.expectedDigest}; ${v.badBlocks.length} block(s) differ from the block list`);
    } catch (e) {
      problems.push(`${dir}/${disk.descriptorFile}: cannot verify: ${(e as Error).message}`);
    }
    if (qemuImg === false) continue;
    const r = await execa('qemu-img', ['check', '-f', 'vmdk', join(dir, disk.descriptorFile)], { reject: false, stdin: 'ignore' });
    if ((r as { code?: string }).code === 'ENOENT' || r.failed && r.exitCode === undefined) {
      qemuImg = false;
      continue;
    }
    qemuImg = true;
    if (r.exitCode !== 0) problems.push(`${dir}/${disk.descriptorFile}: qemu-img check exited ${r.exitCode}: ${(r.stderr || r.stdout).trim().slice(0, 300)}`);
  }
  return problems;
}
