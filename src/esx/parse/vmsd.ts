// Reads a VM's snapshot tree from its .vmsd file (ESX 3.x has no command that lists snapshots).

import { unexpectedOutput } from '../host-error.js';
import type { SnapshotInfo } from './snapshot-tree.js';
import { parseVmx } from './vmx.js';

interface VmsdRecord {
  index: number;
  uid: string;
  name: string;
  description: string;
  parentUid?: string;
  createdOn: string;
}

/** createTimeHigh/Low are the two 32-bit halves of microseconds since 1970 (Low printed signed). */
function createTime(high: string | undefined, low: string | undefined): string {
  if (high === undefined || low === undefined) return '';
  const micros = BigInt(high) * 2n ** 32n + BigInt(Number(low) >>> 0);
  return new Date(Number(micros / 1000n)).toISOString();
}

/** Snapshots depth-first from the root(s), children in file order; ids are the .vmsd uids. */
export function parseVmsd(text: string, command: readonly string[] = []): SnapshotInfo[] {
  const vmsd = parseVmx(text, command);
  const records: VmsdRecord[] = [];
  for (const entry of vmsd.matching(/^snapshot\d+\.uid$/)) {
    const prefix = entry.key.slice(0, entry.key.indexOf('.'));
    const index = Number(prefix.slice('snapshot'.length));
    const record: VmsdRecord = {
      index,
      uid: entry.value,
      name: vmsd.get(`${prefix}.displayName`) ?? '',
      description: vmsd.get(`${prefix}.description`) ?? '',
      createdOn: createTime(vmsd.get(`${prefix}.createTimeHigh`), vmsd.get(`${prefix}.createTimeLow`)),
    };
    const parent = vmsd.get(`${prefix}.parent`);
    if (parent !== undefined) record.parentUid = parent;
    records.push(record);
  }
  records.sort((a, b) => a.index - b.index);
  const declared = vmsd.get('snapshot.numSnapshots');
  if (declared !== undefined && Number(declared) !== records.length) {
    throw unexpectedOutput(command, `snapshot.numSnapshots is ${declared} but ${records.length} snapshots are listed`);
  }
  const uids = new Set(records.map((r) => r.uid));
  const out: SnapshotInfo[] = [];
  const visit = (record: VmsdRecord, parent: SnapshotInfo | undefined): void => {
    const snap: SnapshotInfo = {
      name: record.name,
      id: record.uid,
      description: record.description,
      createdOn: record.createdOn,
      depth: parent ? parent.depth + 1 : 0,
      path: parent ? [...parent.path, record.name] : [record.name],
    };
    if (parent) {
      snap.parentName = parent.name;
      snap.parentId = parent.id!;
    }
    out.push(snap);
    for (const child of records.filter((r) => r.parentUid === record.uid)) visit(child, snap);
  };
  for (const root of records.filter((r) => r.parentUid === undefined || !uids.has(r.parentUid))) visit(root, undefined);
  if (out.length !== records.length) throw unexpectedOutput(command, 'snapshot parents form a cycle');
  return out;
}
