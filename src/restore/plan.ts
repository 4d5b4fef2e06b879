// Where a restore puts the VM and what it sends: pure, from the catalog and the options (also what --dry-run prints).

import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { parseBracketPath, type DiskAdapter } from '../esx/index.js';
import type { Catalog } from '../export/index.js';
import type { RestoreOptions } from '../workflow/restore-options.js';

/** VMFS file block: what a thin disk allocates per written block, and the export's checksum block. */
export const BLOCK = 1024 * 1024;

export interface DiskUpload {
  slot: string;
  capacity: number;
  adapter: DiskAdapter;
  /** On the host. */
  descriptorPath: string;
  flatPath: string;
  /** In the export, absolute, in disk order. */
  extentFiles: string[];
  blocksFile: string;
}

export interface FileUpload {
  /** In the export. */
  local: string;
  /** On the host. */
  remote: string;
}

export interface RestorePlan {
  datastore: string;
  /** Relative to the datastore's root. */
  folder: string;
  /** `/vmfs/volumes/<datastore>/<folder>`. */
  dir: string;
  name: string;
  /** The VM's file names: its display name as ESX writes it in file names. */
  fileBase: string;
  vmxPath: string;
  /** `[datastore] folder/base.vmx`. */
  bracketVmx: string;
  disks: DiskUpload[];
  /** .nvram and .vmsd (logs are not restored: the new VM starts its own). */
  files: FileUpload[];
  /** The .vmx's answer to "moved or copied?": see uuidActionFor. */
  uuidAction: 'keep' | 'create';
  /** The original's disks the export does not hold (independent, physical RDM): left out of the restored VM. */
  skippedSlots: string[];
}

/** A display name as ESX writes it in file names: `%`, `/` and `\` escaped (%25, %2f, %5c), and `"`, which no descriptor can quote (%22). */
export function fileBaseOf(displayName: string): string {
  return displayName.replace(/%/g, '%25').replace(/\//g, '%2f').replace(/\\/g, '%5c').replace(/"/g, '%22');
}

/**
 * "keep" (the host treats the VM as moved: BIOS uuid and MAC address stay) when the restore takes the original's
 * place, under its name with no other VM of that name left registered; "create" (copied: a new BIOS uuid and MAC)
 * for a copy next to the original, so two VMs never share an identity on the network or in backup tools.
 */
export function uuidActionFor(name: string, catalog: Catalog, originalStillRegistered: boolean): 'keep' | 'create' {
  return name === catalog.vm.name && !originalStillRegistered ? 'keep' : 'create';
}

function checkFolder(folder: string): string {
  const clean = folder.replace(/^\/+|\/+$/g, '');
  if (clean === '' || clean.split('/').some((p) => p === '' || p === '.' || p === '..') || clean.includes('\0')) {
    throw new VcbError('USAGE', `--folder ${JSON.stringify(folder)}: expected a directory inside the datastore, e.g. "restored/web01" (no "..", not the datastore's root)`);
  }
  return clean;
}

function adapterFor(slot: string): DiskAdapter {
  return slot.toLowerCase().startsWith('ide') ? 'ide' : 'lsilogic';
}

/** The datastore and folder the catalog names (an edited copy redirects them), or the options'. */
export function targetOf(catalog: Catalog, o: Pick<RestoreOptions, 'datastore' | 'folder'>, name: string): { datastore: string; folder: string } {
  let source;
  try {
    source = parseBracketPath(catalog.vm.vmxDatastorePath);
  } catch {
    throw new VcbError('USAGE', `catalog vm.vmxDatastorePath ${JSON.stringify(catalog.vm.vmxDatastorePath)}: expected "[datastore] folder/vm.vmx"`);
  }
  const slash = source.path.lastIndexOf('/');
  const sourceFolder = slash > 0 ? source.path.slice(0, slash) : fileBaseOf(name);
  const folder = o.folder ?? (name === catalog.vm.name ? sourceFolder : fileBaseOf(name));
  return { datastore: o.datastore ?? source.datastore, folder: checkFolder(folder) };
}

export function planRestore(sourceDir: string, catalog: Catalog, o: Pick<RestoreOptions, 'datastore' | 'folder'>, name: string, uuidAction: 'keep' | 'create'): RestorePlan {
  const { datastore, folder } = targetOf(catalog, o, name);
  if (datastore.includes('/') || datastore === '.' || datastore === '..') throw new VcbError('USAGE', `datastore ${JSON.stringify(datastore)}: expected a datastore name as the host lists it`);
  const dir = `/vmfs/volumes/${datastore}/${folder}`;
  const fileBase = fileBaseOf(name);
  const disks = catalog.disks.map((d, i): DiskUpload => {
    const stem = i === 0 ? fileBase : `${fileBase}_${i}`;
    return {
      slot: d.slot,
      capacity: d.capacity,
      adapter: adapterFor(d.slot),
      descriptorPath: `${dir}/${stem}.vmdk`,
      flatPath: `${dir}/${stem}-flat.vmdk`,
      extentFiles: d.extentFiles.map((f) => join(sourceDir, f)),
      blocksFile: join(sourceDir, d.blocksFile),
    };
  });
  const files: FileUpload[] = [];
  for (const f of catalog.files) {
    const ext = /\.(nvram|vmsd)$/i.exec(f)?.[1]?.toLowerCase();
    if (ext) files.push({ local: join(sourceDir, f), remote: `${dir}/${fileBase}.${ext}` });
  }
  return {
    datastore,
    folder,
    dir,
    name,
    fileBase,
    vmxPath: `${dir}/${fileBase}.vmx`,
    bracketVmx: `[${datastore}] ${folder}/${fileBase}.vmx`,
    disks,
    files,
    uuidAction,
    skippedSlots: catalog.skippedDisks.map((s) => s.slot),
  };
}

/** The exported .vmx made right for the plan: disk file names, nvram, display name, no old swap path, the uuid answer. */
export function vmxEditsFor(plan: RestorePlan): { set: Record<string, string>; remove: string[] } {
  const set: Record<string, string> = { displayName: plan.name, 'uuid.action': plan.uuidAction };
  plan.disks.forEach((d) => {
    set[`${d.slot}.fileName`] = d.descriptorPath.slice(plan.dir.length + 1);
  });
  if (plan.files.some((f) => f.remote.endsWith('.nvram'))) set.nvram = `${plan.fileBase}.nvram`;
  for (const slot of plan.skippedSlots) set[`${slot}.present`] = 'FALSE';
  // sched.swap.derivedName names the old directory's swap file by absolute path; the host makes a new one.
  return { set, remove: ['sched.swap.derivedName'] };
}
