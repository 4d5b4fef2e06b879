// Which of a VM's disks a backup can take, read from its .vmx and each disk's descriptor chain on the host.

import { VcbError } from '../errors.js';
import { descriptorCreateType, listVmxDisks, parseVmx, rdmFromDescriptor, resolveAgainstVmx, type BlockMap, type EsxHost, type VmRef } from '../esx/index.js';
import type { DeltaFormat } from '../formats/sparse-delta.js';
import { parseDescriptor } from '../formats/vmdk-descriptor.js';

/** One link of a user-snapshot chain: its descriptor (what `vmkfstools` takes), the delta file it names and that file's format. */
export interface SnapshotLink {
  descriptor: string;
  data: string;
  format: DeltaFormat;
}

/**
 * The delta format a snapshot link's descriptor names, or undefined for a disk that is not a snapshot link:
 * `vmfsSparse` / VMFSSPARSE over a COWD `-delta.vmdk`, `seSparse` / SESPARSE over a `-sesparse.vmdk`
 * (ESXi 6.5 and later on VMFS6). A descriptor whose createType and extent type disagree is refused.
 */
function linkFormat(path: string, createType: string, extentType: string): DeltaFormat | undefined {
  const byCreateType = createType === 'vmfsSparse' ? 'vmfsSparse' : createType === 'seSparse' ? 'seSparse' : undefined;
  const byExtent = extentType === 'VMFSSPARSE' ? 'vmfsSparse' : extentType === 'SESPARSE' ? 'seSparse' : undefined;
  if (byCreateType !== byExtent && byCreateType !== undefined && byExtent !== undefined) {
    throw new VcbError('HOST_COMMAND', `snapshot descriptor ${path} says createType ${createType} over a ${extentType} extent`);
  }
  return byCreateType ?? byExtent;
}

/** One disk to export, as planning found it. */
export interface ExportDiskPlan {
  device: string;
  /** Base descriptor and its flat extent (for a virtual-mode RDM, its `-rdm.vmdk` mapping file). */
  base: string;
  baseData: string;
  capacity: number;
  thin: boolean;
  /** Users' snapshot links under ours, oldest first. */
  deltas: SnapshotLink[];
  /** Set when the base is a raw device mapping in virtual compatibility mode (exported as an ordinary disk). */
  rdm?: 'virtual';
  /** The base's block map: the whole file for an RDM (known when planned), else read by the block-map step. */
  blockMap: BlockMap | undefined;
}

export interface SkippedPlan {
  device: string;
  path: string;
  reason: 'independent' | 'physical-rdm' | 'excluded';
  detail: string;
}

type HostDiskChain = Omit<ExportDiskPlan, 'device' | 'blockMap'>;

const MAX_CHAIN = 64;

/**
 * Walks a disk's descriptor chain on the host: the base (a flat disk, or the mapping file of a virtual-mode
 * RDM) and the user-snapshot deltas above it (oldest first). `firstText` is the descriptor at
 * `descriptorPath` when the caller has just read it (one host command less per disk).
 */
async function diskChain(esx: EsxHost, descriptorPath: string, firstText?: string): Promise<HostDiskChain> {
  const deltas: SnapshotLink[] = [];
  let path = descriptorPath;
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const text = depth === 0 && firstText !== undefined ? firstText : await esx.readFile(path);
    const d = parseDescriptor(text);
    const ext = d.extents[0];
    if (!ext?.fileName) throw new VcbError('HOST_COMMAND', `disk descriptor ${path} names no extent`);
    const extentPath = resolveAgainstVmx(path, ext.fileName);
    const format = linkFormat(path, d.createType, ext.type);
    if (format) {
      if (d.extents.length !== 1) throw new VcbError('HOST_COMMAND', `snapshot descriptor ${path} names ${d.extents.length} extents, a snapshot link has one`);
      deltas.unshift({ descriptor: path, data: extentPath, format });
      if (!d.parentFileNameHint) throw new VcbError('HOST_COMMAND', `snapshot descriptor ${path} has no parentFileNameHint`);
      path = resolveAgainstVmx(path, d.parentFileNameHint);
      continue;
    }
    const base = { base: path, baseData: extentPath, capacity: ext.sectors * 512, deltas };
    if (d.extents.length === 1 && ext.type === 'VMFSRDM' && rdmFromDescriptor(text) === 'virtual') return { ...base, thin: false, rdm: 'virtual' };
    if (d.extents.length !== 1 || (ext.type !== 'VMFS' && ext.type !== 'FLAT')) {
      throw new VcbError('EXPORT', `disk ${path} has a layout this version cannot export (createType ${d.createType}, ${d.extents.length} extents of type ${ext.type})`);
    }
    return { ...base, thin: d.ddb.get('ddb.thinProvisioned') === '1' };
  }
  throw new VcbError('HOST_COMMAND', `disk chain of ${descriptorPath} is deeper than ${MAX_CHAIN} snapshots`);
}

/**
 * A virtual-mode RDM's data lies on its own LUN, which `vmkfstools -t0` cannot be relied on to describe:
 * the whole mapping file is treated as data, read through the host like a flat file.
 */
function wholeFileMap(dataPath: string, capacity: number): BlockMap {
  return { path: dataPath, size: capacity, extents: [{ fileOffset: 0, length: capacity, kind: 'mapped' }] };
}

/**
 * Every slot to exclude must name a disk of the VM: a typo must neither back up everything nor silently
 * leave out nothing. Slots compare case-insensitively, as the .vmx's keys do.
 */
function checkExclusions(vm: string, slots: readonly string[], exclude: readonly string[]): Set<string> {
  const known = new Set(slots.map((s) => s.toLowerCase()));
  const unknown = exclude.filter((s) => !known.has(s.toLowerCase()));
  if (unknown.length > 0) {
    throw new VcbError(
      'USAGE',
      `--exclude-disk ${unknown.join(', ')}: ${vm} has no such disk; its disks are ${slots.join(', ') || '(none)'} (as the .vmx names them, e.g. scsi0:1)`,
      { vm },
    );
  }
  return new Set(exclude.map((s) => s.toLowerCase()));
}

/**
 * The VM's disks to export (with their chains) and the ones left out, from its .vmx: those a snapshot cannot
 * cover, and those `exclude` names by controller slot (their descriptors are not even read).
 */
export async function planDisks(esx: EsxHost, ref: VmRef, exclude: readonly string[] = []): Promise<{ disks: ExportDiskPlan[]; skipped: SkippedPlan[] }> {
  const disks: ExportDiskPlan[] = [];
  const skipped: SkippedPlan[] = [];
  const vmxDisks = listVmxDisks(parseVmx(await esx.readFile(ref.vmxPath)), ref.vmxPath);
  const excluded = checkExclusions(ref.name, vmxDisks.map((d) => d.device), exclude);
  if (vmxDisks.length > 0 && vmxDisks.every((d) => excluded.has(d.device.toLowerCase()))) {
    throw new VcbError('USAGE', `--exclude-disk ${exclude.join(', ')}: that excludes every disk of ${ref.name} (${vmxDisks.map((d) => d.device).join(', ')}); nothing would be backed up`, { vm: ref.name });
  }
  for (const disk of vmxDisks) {
    if (excluded.has(disk.device.toLowerCase())) {
      skipped.push({ device: disk.device, path: disk.path, reason: 'excluded', detail: 'excluded by --exclude-disk (excludeDisks)' });
      continue;
    }
    if (disk.independent) {
      skipped.push({ device: disk.device, path: disk.path, reason: 'independent', detail: `independent disk (${disk.mode}): snapshots do not cover it` });
      continue;
    }
    const text = await esx.readFile(disk.path);
    const rdm = disk.rdm ? 'physical' : rdmFromDescriptor(text);
    if (rdm === 'physical') {
      skipped.push({
        device: disk.device,
        path: disk.path,
        reason: 'physical-rdm',
        detail: `raw device mapping in physical compatibility mode (${descriptorCreateType(text) ?? disk.deviceType}): it cannot be snapshotted`,
      });
      continue;
    }
    const chain = await diskChain(esx, disk.path, text);
    disks.push({ device: disk.device, ...chain, blockMap: chain.rdm ? wholeFileMap(chain.baseData, chain.capacity) : undefined });
  }
  return { disks, skipped };
}
