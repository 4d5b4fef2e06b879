// The product hands vmkfstools disk descriptors only: the base's and each user-snapshot link's, never an extent file.

import { describe, expect, it } from 'vitest';
import type { BlockMap, EsxHost, VmRef } from '../../src/esx/index.js';
import { stockCmd } from '../../src/esx/index.js';
import { buildBaseDescriptor, buildSnapshotDescriptor, formatDescriptor, isDescriptor } from '../../src/formats/vmdk-descriptor.js';
import { readBlockMaps } from '../../src/steps/read-block-maps.js';
import type { JobContext } from '../../src/steps/step.js';
import { planDisks } from '../../src/workflow/disk-plan.js';
import { deltaInput } from '../../src/workflow/export-plan.js';
import { catchVcbError } from '../esx/catch-error.js';

const DIR = '/vmfs/volumes/ds1/vm 1';
const SECTORS = 2048;
const VMX = `${DIR}/vm 1.vmx`;
const REF: VmRef = { id: '7', name: 'vm 1', vmxPath: VMX };

/** The host's files: a .vmx, two disks, each under two user snapshots; extent files hold binary data. */
function hostFiles(): Map<string, string> {
  const files = new Map<string, string>();
  files.set(VMX, ['scsi0:0.present = "TRUE"', 'scsi0:0.fileName = "vm 1-000002.vmdk"', 'scsi0:1.present = "TRUE"', 'scsi0:1.fileName = "vm 1_1-000002.vmdk"', ''].join('\n'));
  for (const stem of ['vm 1', 'vm 1_1']) {
    files.set(`${DIR}/${stem}.vmdk`, formatDescriptor(buildBaseDescriptor({ capacitySectors: SECTORS, flatFileName: `${stem}-flat.vmdk`, thin: true })));
    files.set(`${DIR}/${stem}-flat.vmdk`, '\0'.repeat(64));
    for (const n of [1, 2]) {
      const parent = n === 1 ? `${stem}.vmdk` : `${stem}-00000${n - 1}.vmdk`;
      const delta = `${stem}-00000${n}-delta.vmdk`;
      files.set(`${DIR}/${stem}-00000${n}.vmdk`, formatDescriptor(buildSnapshotDescriptor({ capacitySectors: SECTORS, deltaFileName: delta, parentFileNameHint: parent, parentCid: 1 })));
      files.set(`${DIR}/${delta}`, `COWD${'\0'.repeat(60)}`);
    }
  }
  return files;
}

/** An EsxHost that serves hostFiles() and records every path it is asked to map, as a real vmkfstools would see it. */
function fakeHost(files: Map<string, string>, mapped: string[]): EsxHost {
  const map = (path: string): BlockMap => {
    stockCmd.blockMap(path);
    mapped.push(path);
    return { path, size: 512, extents: [{ fileOffset: 0, length: 512, kind: 'hole' }] };
  };
  const host = {
    readFile: async (path: string) => {
      const text = files.get(path);
      if (text === undefined) throw new Error(`no such file ${path}`);
      return text;
    },
    blockMap: async (path: string) => map(path),
    snapshotDeltaMap: async (path: string) => ({ map: map(path) }),
  };
  return host as unknown as EsxHost;
}

describe('vmkfstools -t0 requests', () => {
  it.each(['nbd', 'san'] as const)('-m %s: every path handed to vmkfstools is a disk descriptor on the host', async (mode) => {
    const files = hostFiles();
    const mapped: string[] = [];
    const esx = fakeHost(files, mapped);
    const { disks } = await planDisks(esx, REF);
    expect(disks.map((d) => d.deltas.map((l) => l.data.split('/').pop()))).toEqual([
      ['vm 1-000001-delta.vmdk', 'vm 1-000002-delta.vmdk'],
      ['vm 1_1-000001-delta.vmdk', 'vm 1_1-000002-delta.vmdk'],
    ]);
    const ctx = { job: { session: { esx }, disks } } as unknown as JobContext;
    await readBlockMaps.run(ctx);
    const inputs = [];
    for (const d of disks) for (const link of d.deltas) inputs.push(await deltaInput(esx, { mode }, link));

    expect(mapped.length).toBe(mode === 'san' ? 6 : 2);
    for (const path of mapped) expect(isDescriptor(Buffer.from(files.get(path)!)), path).toBe(true);
    // What the export reads is still the delta file itself.
    expect(inputs.every((i) => i.dataPath.endsWith('-delta.vmdk'))).toBe(true);
    expect(inputs.every((i) => (mode === 'san') === (i.blockMap !== undefined))).toBe(true);
  });

  it.each(['nbd', 'san'] as const)('-m %s: a chain mixing a COWD and a SEsparse link: each link keeps its format, vmkfstools gets descriptors only', async (mode) => {
    const files = hostFiles();
    files.set(`${DIR}/vm 1-000002.vmdk`, formatDescriptor(buildSnapshotDescriptor({ capacitySectors: SECTORS, deltaFileName: 'vm 1-000002-sesparse.vmdk', parentFileNameHint: 'vm 1-000001.vmdk', parentCid: 1, format: 'seSparse' })));
    files.set(`${DIR}/vm 1-000002-sesparse.vmdk`, `\xbe\xba\xfe\xca${'\0'.repeat(60)}`);
    const mapped: string[] = [];
    const esx = fakeHost(files, mapped);
    const { disks } = await planDisks(esx, REF);
    expect(disks[0]!.deltas.map((l) => [l.data.split('/').pop(), l.format])).toEqual([
      ['vm 1-000001-delta.vmdk', 'vmfsSparse'],
      ['vm 1-000002-sesparse.vmdk', 'seSparse'],
    ]);
    const inputs = [];
    for (const link of disks[0]!.deltas) inputs.push(await deltaInput(esx, { mode }, link));
    expect(inputs.map((i) => i.format)).toEqual(['vmfsSparse', 'seSparse']);
    for (const path of mapped) expect(isDescriptor(Buffer.from(files.get(path)!)), path).toBe(true);
    expect(mapped.map((p) => p.split('/').pop())).toEqual(mode === 'san' ? ['vm 1-000001.vmdk', 'vm 1-000002.vmdk'] : []);
  });

  it('a link whose createType and extent type disagree is refused', async () => {
    const files = hostFiles();
    const text = formatDescriptor(buildSnapshotDescriptor({ capacitySectors: SECTORS, deltaFileName: 'vm 1-000002-delta.vmdk', parentFileNameHint: 'vm 1-000001.vmdk', parentCid: 1 }));
    files.set(`${DIR}/vm 1-000002.vmdk`, text.replace('createType="vmfsSparse"', 'createType="seSparse"'));
    await expect(planDisks(fakeHost(files, []), REF)).rejects.toThrow(/says createType seSparse over a VMFSSPARSE extent/);
  });

  it('the vmkfstools command builder refuses an extent file', () => {
    for (const name of ['vm-flat.vmdk', 'vm-000001-delta.vmdk', 'vm-000001-sesparse.vmdk', 'vm_1-rdm.vmdk', 'vm_1-rdmp.vmdk', 'vm-ctk.vmdk', 'vm.vmx']) {
      const err = catchVcbError(() => stockCmd.blockMap(`${DIR}/${name}`));
      expect(err.code, name).toBe('INTERNAL');
    }
    expect(stockCmd.blockMap(`${DIR}/vm 1-000001.vmdk`)).toEqual(['vmkfstools', '-t0', `${DIR}/vm 1-000001.vmdk`]);
  });
});
