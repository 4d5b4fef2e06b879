// What a backup may leave behind, looked for on the host and on this machine: snapshots, locks, journals, partial output, processes.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Simulator } from '../../src/sim/simulator.js';

export const BACKUP_SNAPSHOT = '_VCB-BACKUP_';

/** A VM's user snapshots as the admin sees them; compared with the start of the run. */
export function userSnapshots(sim: Simulator, vm: string): string {
  return JSON.stringify(
    sim.esx
      .vm(vm)
      .snapshots.filter((s) => s.name !== BACKUP_SNAPSHOT)
      .map((s) => ({ uid: s.uid, name: s.name, description: s.description })),
  );
}

/** The VM's disk and snapshot files on the datastore: a left delta or a lost one shows here. */
export function vmFiles(sim: Simulator, vm: string): string {
  const v = sim.esx.vm(vm);
  return JSON.stringify(
    sim.esx.vfs
      .list(v.dir)
      .filter((f) => /\.(vmdk|vmsn|vmx|vmsd)$/.test(f))
      .sort(),
  );
}

export function backupSnapshots(sim: Simulator, vm: string): string[] {
  return sim.esx
    .vm(vm)
    .snapshots.filter((s) => s.name === BACKUP_SNAPSHOT)
    .map((s) => `${BACKUP_SNAPSHOT} snapshot of ${vm} (uid ${s.uid}, "${s.description}")`);
}

/** Lock files left in `<state>/locks/`, with the VM they are for (the file name's readable prefix, see engine/vm-key.ts). */
export function lockFiles(stateDir: string): Array<{ file: string; vm: string }> {
  const dir = join(stateDir, 'locks');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lock'))
    .map((file) => ({ file: join(dir, file), vm: /__(.*)-[0-9a-f]{12}\.lock$/.exec(file)?.[1] ?? '?' }));
}

/** Journals not closed (`<state>/journal/*.jsonl` rather than `.jsonl.done`), with the VM their records name. */
export function openJournals(stateDir: string): Array<{ file: string; vm: string }> {
  const dir = join(stateDir, 'journal');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => {
      const file = join(dir, f);
      let vm = '?';
      try {
        const first = readFileSync(file, 'utf8').split('\n', 1)[0]!;
        vm = String((JSON.parse(first) as { vm?: unknown }).vm ?? '?');
      } catch {
        // A torn first line (the writer was killed mid-write) still counts as an open journal.
      }
      return { file, vm };
    });
}

/** `<dest>.partial-*` and `<dest>.old-*` beside the destinations, by destination name (= VM name here). */
export function partialDirs(backupsDir: string): Array<{ path: string; vm: string }> {
  if (!existsSync(backupsDir)) return [];
  return readdirSync(backupsDir)
    .filter((n) => /\.(partial|old)-/.test(n))
    .map((n) => ({ path: join(backupsDir, n), vm: n.replace(/\.(partial|old)-.*$/, '') }));
}

/** Anything in the TMPDIR the CLI runs get: it should stay empty. */
export function tempEntries(tmpDir: string): string[] {
  return existsSync(tmpDir) ? readdirSync(tmpDir).map((n) => join(tmpDir, n)) : [];
}

/** Live processes (other than this one) whose command line mentions the soak's work directory: CLI runs still going. */
export function processesUsing(workDir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
    } catch {
      continue;
    }
    if (cmdline.includes(workDir)) found.push(`pid ${pid}: ${cmdline.slice(0, 200)}`);
  }
  return found;
}

/**
 * Freezes and freeze scripts not yet answered, per VM, kept across cycles (the guest's event list is trimmed
 * after each cycle). Every freeze must be followed by a thaw, every backup script run with "freeze" run again
 * with "thaw" or "freezeFail", and every pre-freeze-script by a post-thaw-script.
 */
export class GuestBalance {
  private open = new Map<string, Map<string, number>>();

  /** Consumes the VM's guest events so far (then drops them from memory); returns what is still open. */
  take(sim: Simulator, vm: string): string[] {
    const guest = sim.esx.vm(vm).guest;
    const counts = this.open.get(vm) ?? new Map<string, number>();
    const add = (key: string, n: number) => counts.set(key, (counts.get(key) ?? 0) + n);
    for (const e of guest.events) {
      if (e.ev === 'freeze') add('I/O freeze', 1);
      else if (e.ev === 'thaw') add('I/O freeze', -1);
      else if (e.ev === 'script') {
        const script = basename(e.path);
        const arg = e.args[0];
        if (script === 'pre-freeze-script') add('pre-freeze-script without post-thaw-script', arg === 'freeze' ? 1 : 0);
        else if (script === 'post-thaw-script') add('pre-freeze-script without post-thaw-script', -1);
        else add(`${script} freeze`, arg === 'freeze' ? 1 : -1);
      }
    }
    guest.events.length = 0;
    this.open.set(vm, counts);
    return [...counts].filter(([, n]) => n !== 0).map(([what, n]) => `${vm}: ${what} ${n > 0 ? `unanswered ×${n}` : `answered ${-n} more time(s) than started`}`);
  }
}
