// Turns a VM's disk plan into the exporter's input: picks the disk reader for -m, gathers delta block maps and VM files.

import { posix } from 'node:path';
import { vmfsToBracketPath, type EsxHost } from '../esx/index.js';
import type { Writable } from 'node:stream';
import { VcbError } from '../errors.js';
import { exportVm, streamVm, type Catalog, type DeltaInput, type ExportDiskInput, type ExportResult, type StreamVmOptions } from '../export/index.js';
import type { Logger } from '../log.js';
import { allOrFirstError } from '../util/settle.js';
import { NbdReader, SanReader, type DiskReader } from '../vlun/index.js';
import type { HostSession } from './connect.js';
import type { ResolvedVm } from './identify.js';
import type { BackupOptions } from './options.js';
import type { ExportDiskPlan, SkippedPlan, SnapshotLink } from './disk-plan.js';


export interface ExportParams {
  session: HostSession;
  vm: ResolvedVm;
  disks: ExportDiskPlan[];
  skipped: SkippedPlan[];
  dir: string;
  options: BackupOptions;
  runId: string;
  quiesced: boolean;
  /** --cold: how the VM was off for the snapshot. */
  cold?: 'shut-down' | 'powered-off-hard' | 'was-off' | undefined;
  warnings: string[];
  snapshotName: string;
  snapshotId?: string;
  toolVersion: string;
  signal: AbortSignal;
  log: Logger;
  onProgress?: (done: number, total: number) => void;
  /** Called as soon as every disk byte is read (see the exporter's onDisksRead). */
  onDisksRead?: () => Promise<void>;
  /** The state file's content, asked for when it is written (after the disks are read). */
  state: () => unknown;
}

export function readerFor(o: BackupOptions, session: HostSession, log?: Logger): DiskReader {
  if (o.mode === 'san') {
    return new SanReader(o.lunMap, {
      lunFlag: '--lun',
      // Through the cache, pages an earlier read left there could be stale (the hosts write the LUN): worth a warning.
      onLunIo: (lun, io, reason) =>
        io === 'direct'
          ? log?.info({ lun, io }, 'reading the LUN directly (O_DIRECT, not through the page cache)')
          : log?.warn({ lun, io, reason }, 'reading the LUN through the page cache'),
      onPartition: (lun, partitionOffset, how) => log?.info({ lun, partitionOffset, how }, 'VMFS partition located on the LUN'),
    });
  }
  // The export's writer gathers bytes into whole blocks itself: SSH packets go to it without another copy.
  return new NbdReader(session.transport, { mode: o.mode === 'nbdssl' ? 'nbdssl' : 'nbd', chunkSize: 0 });
}

/**
 * In san mode a virtual-mode RDM is read through the host: its bytes lie on its own LUN, not on the datastore
 * LUN the block maps point into. Says so in the warnings (and so in the catalog).
 */
function rdmReader(o: BackupOptions, session: HostSession, d: ExportDiskPlan, p: ExportParams): DiskReader | undefined {
  if (!d.rdm || o.mode !== 'san') return undefined;
  const warning = `${d.device} (${d.base}) is a virtual-mode raw device mapping: its data is on the mapped LUN, not the datastore's, so -m san read it through the host (nbd)`;
  p.warnings.push(warning);
  p.log.warn(warning);
  return new NbdReader(session.transport, { mode: 'nbd', chunkSize: 0 });
}

/**
 * What the export needs of a user's snapshot delta. nbd reads it through the host and needs no map; san asks
 * `vmkfstools -t0` for the map of the link's descriptor (never of the delta file, which vmkfstools refuses),
 * and where the host gives none the export reads that delta through the host, with a warning.
 */
export async function deltaInput(esx: EsxHost, o: Pick<BackupOptions, 'mode'>, link: SnapshotLink): Promise<DeltaInput> {
  const delta = { dataPath: link.data, format: link.format };
  if (o.mode !== 'san') return delta;
  const answer = await esx.snapshotDeltaMap(link.descriptor);
  return 'map' in answer ? { ...delta, blockMap: answer.map } : { ...delta, unmapped: answer.refused };
}

/** What the exporter reads for this VM: each disk's source, the host's version and the VM's other files. */
async function exportSource(p: ExportParams): Promise<StreamVmOptions> {
  const { session, vm, options: o } = p;
  const esx = session.esx;
  const disks: ExportDiskInput[] = [];
  for (const d of p.disks) {
    const deltas = [];
    for (const link of d.deltas) deltas.push(await deltaInput(esx, o, link));
    const reader = rdmReader(o, session, d, p);
    disks.push({
      slot: d.device,
      sourceDatastorePath: vmfsToBracketPath(d.base),
      capacity: d.capacity,
      thin: d.thin,
      base: { dataPath: d.baseData, blockMap: d.blockMap! },
      deltas,
      ...(d.rdm ? { rdm: d.rdm } : {}),
      ...(reader ? { baseReader: reader } : {}),
    });
  }
  const vmDir = posix.dirname(vm.ref.vmxPath);
  // Two independent read-only commands: one round trip instead of two.
  const [listing, version] = await allOrFirstError([session.transport.exec(['ls', '-1', vmDir]), esx.version()] as const);
  const vmFiles = listing.exitCode === 0 ? listing.stdout.split('\n').filter(Boolean).map((n) => `${vmDir}/${n}`) : [];
  if (listing.exitCode !== 0) p.warnings.push(`could not list ${vmDir} (${listing.stderr.trim()}): .nvram, .vmsd and logs not exported`);
  return {
    runId: p.runId,
    reader: readerFor(o, session, p.log),
    transport: session.transport,
    host: { name: session.label, version: version.text },
    vm: { name: vm.ref.name, vmid: vm.ref.id, biosUuid: vm.info.biosUuid, vmxDatastorePath: vm.ref.bracketPath ?? vmfsToBracketPath(vm.ref.vmxPath), vmxPath: vm.ref.vmxPath },
    snapshot: { name: p.snapshotName, id: p.snapshotId, quiesced: p.quiesced, ...(p.cold ? { cold: p.cold } : {}) },
    toolVersion: p.toolVersion,
    disks,
    skippedDisks: p.skipped.map((s) => ({ slot: s.device, sourceDatastorePath: vmfsToBracketPath(s.path), reason: s.reason, detail: s.detail })),
    vmFiles,
    warnings: p.warnings,
    onWarning: (warning) => {
      p.warnings.push(warning);
      p.log.warn(warning);
    },
    onProgress: p.onProgress,
    ...(p.onDisksRead ? { onDisksRead: p.onDisksRead } : {}),
    signal: p.signal,
  };
}

/** Writes the VM's export into its partial directory (see export/export-vm.ts); publishing it is the caller's. */
export async function writeVmExport(p: ExportParams): Promise<ExportResult> {
  const source = await exportSource(p);
  p.log.info({ disks: source.disks.length, mode: p.options.mode, dir: p.dir }, 'exporting');
  return exportVm({
    ...source,
    destination: p.dir,
    preexisting: p.options.preexistingMountpoint,
    diskLayout: p.options.monolithic ? 'monolithicFlat' : 'twoGbMaxExtentFlat',
    state: p.state,
  });
}

/**
 * --stream: the same export as one tar stream into `output` (see export/stream-vm.ts). A VM with snapshots
 * of its own is refused before a byte is read: their deltas are laid over the base afterwards.
 */
export async function streamVmExport(p: Omit<ExportParams, 'state' | 'dir'>, output: Writable): Promise<Catalog> {
  const layered = p.disks.filter((d) => d.deltas.length > 0);
  if (layered.length > 0) {
    throw new VcbError('USAGE', `--stream: ${p.vm.ref.name} has snapshots of its own under the backup snapshot (${layered.map((d) => d.device).join(', ')}); their changes are laid over the disk after it is read, which a stream cannot do: back it up without --stream`);
  }
  const source = await exportSource({ ...p, dir: '', state: () => undefined });
  p.log.info({ disks: source.disks.length, mode: p.options.mode }, 'streaming the export to the agent');
  return streamVm(source, output);
}
