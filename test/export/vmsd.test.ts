// The exported .vmsd describes no snapshot: the export is the flattened image as of our snapshot, so a user
// snapshot of the source (its .vmsn, its deltas, the disk it was taken of) is not in it.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { parseVmsd } from '../../src/esx/parse/vmsd.js';
import { parseVmx } from '../../src/esx/parse/vmx.js';
import { vmsdWithoutSnapshots } from '../../src/export/vm-files.js';
import { FAST_GUEST, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, startBench, type Bench } from '../cli/cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory([
      {
        name: 'snappy',
        vmid: 41,
        disks: [{ size: '16M', fillBytes: '2M' }],
        guest: FAST_GUEST,
        snapshots: [
          { name: 'before-upgrade', description: 'admin' },
          { name: 'after-upgrade', description: 'admin too' },
        ],
      },
    ]),
  );
});
afterAll(async () => bench?.stop());

function sourceVmsd(): { path: string; text: string } {
  const vm = bench.sim.esx.vm('snappy');
  const path = `${vm.dir}/${vm.fileBase}.vmsd`;
  return { path, text: bench.sim.esx.vfs.readFile(path).toString('utf8') };
}

test('a fullvm export of a VM with user snapshots has a .vmsd with no snapshot in it; the source .vmsd keeps them', async () => {
  const before = sourceVmsd();
  const userSnapshots = parseVmsd(before.text);
  expect(userSnapshots.map((s) => s.name)).toEqual(['before-upgrade', 'after-upgrade']);

  const out = join(bench.work, 'snappy');
  const r = await bench.cli(['-a', 'name:snappy', '-r', out]);
  expect(r.exitCode, r.stderr).toBe(0);

  const catalog = readCatalog(out);
  expect(catalog.files).toContain('snappy.vmsd');
  expect(existsSync(join(out, 'snappy.vmsd.orig'))).toBe(false);
  const exported = readFileSync(join(out, 'snappy.vmsd'), 'utf8');
  expect(parseVmsd(exported)).toEqual([]);
  const entries = parseVmx(exported).matching(/./);
  expect(entries.filter((e) => /^snapshot\d/i.test(e.key))).toEqual([]);
  expect(entries.find((e) => e.key === 'snapshot.numSnapshots')?.value).toBe('0');
  expect(entries.find((e) => e.key === '.encoding')?.value).toBe('UTF-8');
  // No file name in it that the export lacks.
  const present = new Set(readdirSync(out));
  for (const e of entries) if (/\.(vmsn|vmdk|vmem)$/i.test(e.value)) expect(present.has(e.value), e.value).toBe(true);
  expect(exported).not.toMatch(/\.vmsn|\.vmdk/i);

  // The source keeps its user snapshots, entry for entry (the backup's own snapshot came and went).
  const after = sourceVmsd();
  expect(parseVmsd(after.text)).toEqual(userSnapshots);
  const snapshotLines = (text: string) => text.split('\n').filter((l) => /^snapshot\d/.test(l));
  expect(snapshotLines(after.text)).toEqual(snapshotLines(before.text));
  expect(bench.sim.esx.vm('snappy').snapshots.map((s) => s.name)).toEqual(['before-upgrade', 'after-upgrade']);
});

test('vmsdWithoutSnapshots keeps the lines that are not about snapshots, and snapshot.lastUID', () => {
  const crlf = [
    '.encoding = "UTF-8"',
    'snapshot.lastUID = "7"',
    'snapshot.current = "7"',
    'snapshot0.uid = "7"',
    'snapshot0.filename = "vm-Snapshot7.vmsn"',
    'snapshot0.disk0.fileName = "vm.vmdk"',
    'snapshot.mru0.uid = "7"',
    'snapshot.numSnapshots = "1"',
    'snapshot.needConsolidate = "FALSE"',
    '',
  ].join('\r\n');
  expect(vmsdWithoutSnapshots(crlf)).toBe('.encoding = "UTF-8"\r\nsnapshot.lastUID = "7"\r\nsnapshot.numSnapshots = "0"\r\n');
  expect(parseVmsd(vmsdWithoutSnapshots(crlf))).toEqual([]);
  // A .vmsd without snapshot entries (empty, as a VM that never had one has) is kept as it is.
  expect(vmsdWithoutSnapshots('')).toBe('');
  expect(vmsdWithoutSnapshots('.encoding = "UTF-8"\n')).toBe('.encoding = "UTF-8"\n');
});
