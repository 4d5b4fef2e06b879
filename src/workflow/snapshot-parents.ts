// After the create: every planned disk must now run on a new link whose parent is the top the plan read, or the export would not be the VM's state at the snapshot.

import { VcbError } from '../errors.js';
import { listVmxDisks, parseVmx, resolveAgainstVmx, type EsxHost, type VmRef } from '../esx/index.js';
import { parseDescriptor } from '../formats/vmdk-descriptor.js';
import type { ExportDiskPlan } from './disk-plan.js';

/** The descriptor a disk ran on when the plan read it: the newest user-snapshot link, or the base. */
export function plannedTop(disk: ExportDiskPlan): string {
  return disk.deltas[disk.deltas.length - 1]?.descriptor ?? disk.base;
}

/**
 * Reads the .vmx and each planned disk's new top after the run's snapshot was created: the top must be a
 * snapshot link on the descriptor the plan read. Anything else (the VM was reverted, or another snapshot was
 * taken, between the plan and the create) means the planned chains are not what the snapshot froze, so the
 * export would not be the VM's current state: throws SNAPSHOT, and the release removes the run's snapshot.
 */
export async function checkSnapshotOnPlannedTops(esx: EsxHost, ref: VmRef, disks: readonly ExportDiskPlan[]): Promise<void> {
  const now = listVmxDisks(parseVmx(await esx.readFile(ref.vmxPath)), ref.vmxPath);
  const wrong: string[] = [];
  for (const disk of disks) {
    const top = now.find((d) => d.device === disk.device);
    if (!top) {
      wrong.push(`${disk.device} is no longer in the .vmx`);
      continue;
    }
    const d = parseDescriptor(await esx.readFile(top.path));
    const parent = d.parentFileNameHint === undefined ? undefined : resolveAgainstVmx(top.path, d.parentFileNameHint);
    if (parent !== plannedTop(disk)) wrong.push(`${disk.device} runs on ${top.path}${parent ? ` over ${parent}` : ''}, not on a new link over ${plannedTop(disk)}`);
  }
  if (wrong.length === 0) return;
  throw new VcbError(
    'SNAPSHOT',
    `the disks of ${ref.name} changed between reading them and taking the snapshot (${wrong.join('; ')}): someone reverted the VM or took or removed a snapshot meanwhile, so this export would not be the VM's current state; run the backup again`,
    { vm: ref.name },
  );
}
