// Step target: the name and place the VM is restored to, and what -b does about a VM already registered under that name.

import { VcbError } from '../errors.js';
import type { EsxHost, VmRef } from '../esx/index.js';
import { planRestore, uuidActionFor } from '../restore/plan.js';
import { drillName } from '../restore/drill.js';
import { need, type RestoreStep } from './restore-step.js';

/** The directory of a registered VM's .vmx, as `/vmfs/volumes/<datastore name>/<folder>` where the host names the datastore. */
async function dirOf(esx: EsxHost, vm: VmRef): Promise<string> {
  const m = vm.bracketPath ? /^\[([^\]]+)\]\s*(.*)\/[^/]+$/.exec(vm.bracketPath) : undefined;
  if (m) return `/vmfs/volumes/${m[1]}/${m[2]}`;
  // vmware-cmd lists /vmfs/volumes/<volume uuid>/...: name the datastore by its label, as the plan does.
  const uuidPath = /^\/vmfs\/volumes\/([^/]+)\/(.*)\/[^/]+$/.exec(vm.vmxPath);
  if (!uuidPath) return vm.vmxPath.slice(0, vm.vmxPath.lastIndexOf('/'));
  const label = (await esx.volumeSpace(vm.vmxPath)).label;
  return `/vmfs/volumes/${label ?? uuidPath[1]}/${uuidPath[2]}`;
}

function nextFreeName(base: string, taken: ReadonlySet<string>): string {
  for (let n = 1; ; n++) if (!taken.has(`${base}-restored-${n}`)) return `${base}-restored-${n}`;
}

export const checkTarget: RestoreStep = {
  name: 'target',
  describe: (o) =>
    `choose the VM's name (${o.drill ? "the catalog's with -drill-TIME appended" : (o.name ?? "the catalog's")}) and folder; a VM registered under that name: ${
      o.policy === 'fail' ? 'refuse (-b fail)' : o.policy === 'rename' ? 'restore as NAME-restored-N instead (-b rename)' : 'replace it if it is powered off (-b overwrite)'
    }`,
  acquires: [],
  errorCode: 'DESTINATION',
  hostCommands: ['^vim-cmd vmsvc/getallvms', '^vmware-cmd -l', '^cat ', '^vim-cmd vmsvc/get\\.summary', '^vmware-cmd .* getstate', '^vmkfstools -P', '^ls -d'],
  async run(ctx) {
    const { job, o } = ctx;
    const catalog = need(job.catalog, 'the catalog');
    const esx = need(job.session, 'the session').esx;
    const host = need(job.session, 'the session').label;
    const vms = await esx.listVms();
    const names = new Set(vms.map((v) => v.name));
    let name = o.drill ? drillName(catalog.vm.name, new Date()) : (o.name ?? catalog.vm.name);
    let existing = vms.find((v) => v.name === name);
    if (existing && o.policy === 'fail') {
      throw new VcbError(
        'DESTINATION',
        `a VM named ${JSON.stringify(name)} is already registered on ${host} (${existing.bracketPath ?? existing.vmxPath}): nothing was changed; restore under another name (--name NEW, or -b rename), or replace it with -b overwrite (only a powered-off VM)`,
      );
    }
    if (existing && o.policy === 'rename') {
      name = nextFreeName(name, names);
      existing = undefined;
    }
    if (existing && o.policy === 'overwrite') {
      const state = (await esx.getVmInfo(existing)).powerState;
      if (state !== 'off') {
        throw new VcbError('DESTINATION', `-b overwrite: ${JSON.stringify(name)} on ${host} is ${state === 'on' ? 'powered on' : state}; only a powered-off VM is replaced: power it off first (nothing was changed)`);
      }
    }
    const replacingOriginal = existing !== undefined && name === catalog.vm.name;
    const originalStillRegistered = names.has(catalog.vm.name) && !replacingOriginal;
    const plan = planRestore(job.sourceDir, catalog, o, name, uuidActionFor(name, catalog, originalStillRegistered));
    if (existing) {
      job.existing = existing;
      job.existingDir = await dirOf(esx, existing);
      job.aside = job.existingDir === plan.dir ? `${plan.dir}.replaced-${ctx.runId}` : '';
    }
    if (!job.aside && (await esx.pathExists(plan.dir))) {
      throw new VcbError('DESTINATION', `[${plan.datastore}] ${plan.folder} already exists on ${host}: nothing was changed; restore into another folder (--folder PATH, or --name NEW) or remove it first`);
    }
    job.name = name;
    job.plan = plan;
    ctx.log.info({ name, vmx: plan.bracketVmx, uuidAction: plan.uuidAction, replaces: existing?.name }, 'restore target');
  },
};
