// vcbMounter's -a selector (name:, ipaddr:, uuid:, moref:) and matching it against the host's VMs.

import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { distance } from 'fastest-levenshtein';
import { VcbError } from '../errors.js';
import { shellQuote } from '../util/shell-quote.js';
import type { EsxHost, VmInfo, VmRef } from '../esx/index.js';

export type VmSelector =
  | { kind: 'name'; value: string }
  | { kind: 'ipaddr'; value: string }
  | { kind: 'uuid'; value: string }
  | { kind: 'moref'; value: string };

const KINDS = ['name', 'ipaddr', 'uuid', 'moref'] as const;

export function parseSelector(text: string): VmSelector {
  const i = text.indexOf(':');
  const kind = i > 0 ? text.slice(0, i) : '';
  const value = i > 0 ? text.slice(i + 1) : '';
  if (!(KINDS as readonly string[]).includes(kind) || value === '') {
    throw new VcbError('USAGE', `-a "${text}" is not a VM selector: use name:<display name>, ipaddr:<ip or dns name>, uuid:<BIOS uuid> or moref:<vmid>`);
  }
  return { kind: kind as VmSelector['kind'], value };
}

export function formatSelector(s: VmSelector): string {
  return `${s.kind}:${s.value}`;
}

/** BIOS uuids compare by their 32 hex digits, whatever the spacing and dashes. */
export function normalizeUuid(u: string): string {
  return u.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
}

/** Up to three VM names closest to `wanted`, for "did you mean" hints. */
export function closestNames(wanted: string, names: string[]): string[] {
  const w = wanted.toLowerCase();
  return names
    .map((n) => ({ n, d: n.toLowerCase().includes(w) || w.includes(n.toLowerCase()) ? 0 : distance(w, n.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(3, Math.floor(w.length / 2)))
    .sort((a, b) => a.d - b.d)
    .slice(0, 3)
    .map((x) => JSON.stringify(x.n));
}

/** An IP address as given, or every address a DNS name resolves to (vcbMounter's ipaddr: takes both). */
async function addressesOf(value: string): Promise<string[]> {
  if (isIP(value)) return [value];
  try {
    return (await lookup(value, { all: true })).map((a) => a.address);
  } catch (e) {
    throw new VcbError('VM_NOT_FOUND', `-a ipaddr:${value}: "${value}" is not an IP address and does not resolve (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export interface ResolvedVm {
  ref: VmRef;
  info: VmInfo;
}

/**
 * The VM of a moref: selector that an earlier listing found, if the host still describes it the same way (same
 * moref, name and .vmx): one info call instead of a listing. Undefined when the listing no longer holds (the VM was
 * renamed, moved, unregistered or its id reused), so the caller resolves it afresh.
 */
export async function confirmListedVm(host: EsxHost, sel: VmSelector, listed: VmRef): Promise<ResolvedVm | undefined> {
  // Only vim-cmd's info names the VM itself; vmware-cmd's echoes the listing's name, so it could not tell a rename.
  if (host.commandSet !== 'vim-cmd' || sel.kind !== 'moref' || sel.value !== listed.id) return undefined;
  let info: VmInfo;
  try {
    info = await host.getVmInfo(listed);
  } catch (e) {
    if (e instanceof VcbError && e.code !== 'CONNECT' && e.code !== 'INTERRUPTED') return undefined;
    throw e;
  }
  return info.name === listed.name && info.vmxPath === listed.vmxPath ? { ref: listed, info } : undefined;
}

/** Finds exactly one VM for the selector, or throws VM_NOT_FOUND / VM_AMBIGUOUS with what matched or came close. */
export async function resolveVm(host: EsxHost, sel: VmSelector): Promise<ResolvedVm> {
  const vms = await host.listVms();
  const shown = formatSelector(sel);
  let matches: ResolvedVm[] = [];
  if (sel.kind === 'name' || sel.kind === 'moref') {
    const hits = vms.filter((v) => (sel.kind === 'name' ? v.name === sel.value : v.id === sel.value));
    for (const ref of hits) matches.push({ ref, info: await host.getVmInfo(ref) });
  } else {
    const infos: ResolvedVm[] = [];
    for (const ref of vms) infos.push({ ref, info: await host.getVmInfo(ref) });
    const addresses = sel.kind === 'ipaddr' ? await addressesOf(sel.value) : [];
    matches =
      sel.kind === 'uuid'
        ? infos.filter((x) => x.info.biosUuid !== undefined && normalizeUuid(x.info.biosUuid) === normalizeUuid(sel.value))
        : infos.filter((x) => x.info.ipAddress !== undefined && addresses.includes(x.info.ipAddress));
    if (matches.length === 0 && sel.kind === 'ipaddr') {
      const off = infos.filter((x) => x.info.powerState !== 'on').map((x) => JSON.stringify(x.ref.name));
      const noTools = infos.filter((x) => x.info.powerState === 'on' && !x.info.ipAddress).map((x) => JSON.stringify(x.ref.name));
      const why = [
        off.length ? `powered-off VMs report no IP address (${off.join(', ')})` : '',
        noTools.length ? `VMs without running VMware Tools report none either (${noTools.join(', ')})` : '',
      ].filter(Boolean);
      throw new VcbError(
        'VM_NOT_FOUND',
        `no VM on the host reports IP address ${sel.value}` + (why.length ? `; ${why.join('; ')}: select those with name: or moref:` : ''),
      );
    }
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new VcbError(
      'VM_AMBIGUOUS',
      `-a ${shown} matches ${matches.length} VMs: ${matches.map((m) => `${JSON.stringify(m.ref.name)} (moref:${m.ref.id})`).join(', ')}; select one with moref:<id>`,
    );
  }
  const hint = sel.kind === 'name' ? closestNames(sel.value, vms.map((v) => v.name)) : [];
  // -a selects one VM by its exact name; someone who types a glob there wants the listing's or a job file's selection.
  const glob = sel.kind === 'name' && /[*?[]/.test(sel.value)
    ? `; -a takes one exact name, so * ? [ are characters of it, not wildcards: "vcbmounter list -s ${shellQuote(`name:${sel.value}`)}" shows the VMs a glob selects, and a job file (vcbmounter run) backs them all up`
    : '';
  throw new VcbError(
    'VM_NOT_FOUND',
    `no VM matches -a ${shown}` +
      (hint.length ? `; closest names: ${hint.join(', ')} (names are exact and case-sensitive)` : `; the host has ${vms.length} VMs (list them with: vcbmounter list and the same -h, -u and credentials)`) +
      glob,
  );
}
