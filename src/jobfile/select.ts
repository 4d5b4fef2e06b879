// Which VMs of a host a job entry selects: its select terms (same kind: any of them; different kinds: all of them) minus its excludes.

import type { VmListing } from '../workflow/vm-listing.js';
import { matchesVmSelector, parseListSelector } from '../workflow/vm-match.js';

function kindOf(term: string): string {
  const i = term.indexOf(':');
  return i < 0 ? term : term.slice(0, i);
}

/** Throws USAGE naming the entry's bad term (called while the file is read, before any contact). */
export function checkTerms(where: string, terms: readonly string[]): void {
  terms.forEach((t, i) => parseListSelector(t, `${where}[${i}]:`));
}

/**
 * `["name:web*", "name:app*", "powerstate:on"]` is (web* or app*) and on: terms of one kind widen the
 * selection, terms of different kinds narrow it, which is how both lists of names and filters read.
 */
export function selects(vm: VmListing, terms: readonly string[]): boolean {
  const byKind = new Map<string, string[]>();
  for (const t of terms) byKind.set(kindOf(t), [...(byKind.get(kindOf(t)) ?? []), t]);
  return [...byKind.values()].every((group) => group.some((t) => matchesVmSelector(vm, t)));
}

export function excluded(vm: VmListing, terms: readonly string[]): string | undefined {
  return terms.find((t) => matchesVmSelector(vm, t));
}

/** A term that names one VM exactly (no glob, not a filter): matching nothing then means the file is out of date. */
export function namesOneVm(term: string): boolean {
  const kind = kindOf(term);
  if (kind === 'name') return !/[*?[]/.test(term.slice(5));
  return kind === 'uuid' || kind === 'moref' || kind === 'ipaddr';
}
