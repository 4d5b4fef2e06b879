// The soak's leak finders see what a killed run leaves on this machine: lock files, open journals, partial and old directories.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { GuestBalance, lockFiles, openJournals, partialDirs, tempEntries } from '../../tools/soak/leftovers.js';
import type { Simulator } from '../../src/sim/simulator.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

test('lock files, open journals (not .done) and partial/old siblings are found with the VM they belong to', () => {
  dir = mkdtempSync(join(tmpdir(), 'soak-leftovers-'));
  mkdirSync(join(dir, 'locks'));
  mkdirSync(join(dir, 'journal'));
  mkdirSync(join(dir, 'backups', 'web.partial-20260101T000000Z-1-abcdef'), { recursive: true });
  mkdirSync(join(dir, 'backups', 'db.old-20260101T000000Z-2-abcdef'));
  mkdirSync(join(dir, 'backups', 'app'));
  writeFileSync(join(dir, 'locks', '127.0.0.1_40000-0123456789ab__web-0123456789ab.lock'), '{}');
  writeFileSync(join(dir, 'journal', 'r1.jsonl'), '{"run":"r1","event":"begin","vm":"db"}\n');
  writeFileSync(join(dir, 'journal', 'r2.jsonl'), '{"run":"r2","ev');
  writeFileSync(join(dir, 'journal', 'r3.jsonl.done'), '{"run":"r3","event":"begin","vm":"app"}\n');
  expect(lockFiles(dir).map((l) => l.vm)).toEqual(['web']);
  expect(openJournals(dir).map((j) => j.vm).sort()).toEqual(['?', 'db']);
  expect(partialDirs(join(dir, 'backups')).map((p) => p.vm).sort()).toEqual(['db', 'web']);
  expect(tempEntries(join(dir, 'nothing-here'))).toEqual([]);
});

test('a freeze without its thaw, or a freeze script without thaw/freezeFail, stays open across cycles until answered', () => {
  const events: Array<Record<string, unknown>> = [];
  const sim = { esx: { vm: () => ({ guest: { events } }) } } as unknown as Simulator;
  const balance = new GuestBalance();
  events.push({ ev: 'script', path: '/usr/sbin/pre-freeze-script', args: ['freeze'] }, { ev: 'script', path: '/etc/vmware-tools/backupScripts.d/10-a', args: ['freeze'] }, { ev: 'freeze' });
  expect(balance.take(sim, 'web')).toHaveLength(3);
  expect(events).toHaveLength(0);
  events.push({ ev: 'thaw' }, { ev: 'script', path: '/etc/vmware-tools/backupScripts.d/10-a', args: ['thaw'] }, { ev: 'script', path: '/usr/sbin/post-thaw-script', args: ['thaw'] });
  expect(balance.take(sim, 'web')).toEqual([]);
});
