// Retention decisions: each keep rule, ISO week edges, rules overlapping, what never counts or goes, and the safety property over random inputs.

import { execa } from 'execa';
import { describe, expect, test } from 'vitest';
import type { BackupEntry } from '../../src/jobfile/backup-set.js';
import { decideRetention, formatRetentionPlan, isoWeek, type KeepPolicy, type RetentionDecision } from '../../src/jobfile/retention.js';

/** A local time (the rules count periods in local time, so the tests hold in any TZ). */
function at(y: number, m: number, d: number, h = 12, min = 0): Date {
  return new Date(y, m - 1, d, h, min);
}

function backup(time: Date, over: Partial<BackupEntry> = {}): BackupEntry {
  const stamp = `${time.getFullYear()}-${time.getMonth() + 1}-${time.getDate()}T${time.getHours()}:${time.getMinutes()}`;
  return { dir: `/backup/esx01/web01/${stamp}`, time, complete: true, verified: true, runId: `run-${stamp}`, ...over };
}

const dirs = (list: Array<{ entry: BackupEntry }>): string[] => list.map((x) => x.entry.dir);
const kept = (d: RetentionDecision): Date[] => d.keep.map((k) => k.entry.time);
const removed = (d: RetentionDecision): Date[] => d.remove.map((r) => r.entry.time);
const reasonsOf = (d: RetentionDecision): string[][] => d.keep.map((k) => k.reasons);

describe('each rule', () => {
  test('keep-last keeps the N newest, whatever their times', () => {
    const list = [at(2026, 11, 30, 3), at(2026, 11, 30, 2), at(2026, 11, 30, 1), at(2026, 11, 29), at(2026, 10, 1)].map((t) => backup(t));
    const d = decideRetention(list, { last: 3 }, { requireVerified: true });
    expect(kept(d)).toEqual([at(2026, 11, 30, 3), at(2026, 11, 30, 2), at(2026, 11, 30, 1)]);
    expect(reasonsOf(d)).toEqual([['keep-last 1'], ['keep-last 2'], ['keep-last 3']]);
    expect(removed(d)).toEqual([at(2026, 11, 29), at(2026, 10, 1)]);
    expect(d.remove[0]!.reason).toBe('kept by no keep rule');
  });

  test('keep-hourly keeps the newest of each of the N most recent hours that hold a backup', () => {
    const list = [at(2026, 11, 30, 12, 0), at(2026, 11, 30, 11, 10), at(2026, 11, 30, 10, 40), at(2026, 11, 30, 10, 5), at(2026, 11, 30, 8, 59)].map((t) => backup(t));
    const d = decideRetention(list, { hourly: 3 }, { requireVerified: false });
    expect(kept(d)).toEqual([at(2026, 11, 30, 12, 0), at(2026, 11, 30, 11, 10), at(2026, 11, 30, 10, 40)]);
    expect(reasonsOf(d)).toEqual([['keep-hourly 2026-11-30 12:00'], ['keep-hourly 2026-11-30 11:00'], ['keep-hourly 2026-11-30 10:00']]);
    expect(removed(d)).toEqual([at(2026, 11, 30, 10, 5), at(2026, 11, 30, 8, 59)]);
  });

  test('keep-daily counts days that hold a backup, not calendar days (a gap does not use a slot)', () => {
    const list = [at(2026, 11, 30, 22), at(2026, 11, 30, 9), at(2026, 11, 28), at(2026, 11, 27, 23, 59), at(2026, 11, 27, 0, 1), at(2026, 11, 20)].map((t) => backup(t));
    const d = decideRetention(list, { daily: 3 }, { requireVerified: true });
    expect(kept(d)).toEqual([at(2026, 11, 30, 22), at(2026, 11, 28), at(2026, 11, 27, 23, 59)]);
    expect(reasonsOf(d)).toEqual([['keep-daily 2026-11-30'], ['keep-daily 2026-11-28'], ['keep-daily 2026-11-27']]);
    expect(removed(d)).toEqual([at(2026, 11, 30, 9), at(2026, 11, 27, 0, 1), at(2026, 11, 20)]);
  });

  test('keep-weekly uses ISO weeks: 2026-12-28 to 2027-01-03 is one week (2026-W53), 2027-01-04 starts 2027-W01', () => {
    const list = [at(2027, 1, 4), at(2027, 1, 3), at(2027, 1, 1), at(2026, 12, 31), at(2026, 12, 28), at(2026, 12, 27)].map((t) => backup(t));
    const d = decideRetention(list, { weekly: 3 }, { requireVerified: true });
    expect(kept(d)).toEqual([at(2027, 1, 4), at(2027, 1, 3), at(2026, 12, 27)]);
    expect(reasonsOf(d)).toEqual([['keep-weekly 2027-W01'], ['keep-weekly 2026-W53'], ['keep-weekly 2026-W52']]);
    expect(removed(d)).toEqual([at(2027, 1, 1), at(2026, 12, 31), at(2026, 12, 28)]);
  });

  test('keep-weekly: 2025-12-29 belongs to 2026-W01 with 2026-01-01, though it is in another calendar year', () => {
    const list = [at(2026, 1, 2), at(2025, 12, 29), at(2025, 12, 28)].map((t) => backup(t));
    const d = decideRetention(list, { weekly: 5 }, { requireVerified: true });
    expect(reasonsOf(d)).toEqual([['keep-weekly 2026-W01'], ['keep-weekly 2025-W52']]);
    expect(removed(d)).toEqual([at(2025, 12, 29)]);
  });

  test('keep-monthly and keep-yearly use calendar months and years (2026-12-31 and 2027-01-01 are two years)', () => {
    const list = [at(2027, 1, 1), at(2026, 12, 31), at(2026, 12, 1), at(2026, 11, 15), at(2025, 6, 1), at(2024, 12, 31)].map((t) => backup(t));
    const monthly = decideRetention(list, { monthly: 3 }, { requireVerified: true });
    expect(reasonsOf(monthly)).toEqual([['keep-monthly 2027-01'], ['keep-monthly 2026-12'], ['keep-monthly 2026-11']]);
    expect(removed(monthly)).toEqual([at(2026, 12, 1), at(2025, 6, 1), at(2024, 12, 31)]);
    const yearly = decideRetention(list, { yearly: 10 }, { requireVerified: true });
    expect(kept(yearly)).toEqual([at(2027, 1, 1), at(2026, 12, 31), at(2025, 6, 1), at(2024, 12, 31)]);
    expect(reasonsOf(yearly)).toEqual([['keep-yearly 2027'], ['keep-yearly 2026'], ['keep-yearly 2025'], ['keep-yearly 2024']]);
  });

  test('isoWeek agrees with GNU date (%G-W%V) over 1500 dates, every year edge from 1999 to 2040 included', async () => {
    const days: Date[] = [];
    for (let y = 1999; y <= 2040; y++) for (const [m, d] of [[12, 26], [12, 27], [12, 28], [12, 29], [12, 30], [12, 31], [1, 1], [1, 2], [1, 3], [1, 4], [1, 5]] as const) days.push(new Date(y, m - 1, d, 12));
    let seed = 7;
    while (days.length < 1500) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      days.push(new Date(2000, 0, 1 + (seed % 15000), 12));
    }
    const iso = (t: Date) => `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-${String(t.getDate()).padStart(2, '0')}`;
    const r = await execa('date', ['-f', '-', '+%G-W%V'], { input: days.map(iso).join('\n') + '\n' });
    const expected = r.stdout.split('\n');
    const actual = days.map((t) => {
      const w = isoWeek(t);
      return `${w.year}-W${String(w.week).padStart(2, '0')}`;
    });
    expect(actual).toEqual(expected);
  });
});

describe('rules together', () => {
  test('a period an earlier rule already covers does not use a slot: keep-last 1 then keep-daily 2', () => {
    const list = [at(2026, 11, 30, 22), at(2026, 11, 30, 10), at(2026, 11, 29, 22), at(2026, 11, 28), at(2026, 11, 27)].map((t) => backup(t));
    const d = decideRetention(list, { last: 1, daily: 2 }, { requireVerified: true });
    expect(kept(d)).toEqual([at(2026, 11, 30, 22), at(2026, 11, 29, 22), at(2026, 11, 28)]);
    expect(reasonsOf(d)).toEqual([['keep-last 1'], ['keep-daily 2026-11-29'], ['keep-daily 2026-11-28']]);
    expect(removed(d)).toEqual([at(2026, 11, 30, 10), at(2026, 11, 27)]);
  });

  test('the issue\'s policy (last 3, daily 7, weekly 4, monthly 6) over a year of nightly backups keeps 3+7+4+6 of them', () => {
    const list: BackupEntry[] = [];
    for (let day = 0; day < 365; day++) list.push(backup(new Date(2026, 11, 31 - day, 23, 30)));
    const d = decideRetention(list, { last: 3, daily: 7, weekly: 4, monthly: 6 }, { requireVerified: true });
    const byRule = (rule: string) => d.keep.filter((k) => k.reasons[0]!.startsWith(`keep-${rule} `)).map((k) => k.reasons[0]);
    expect(byRule('last')).toEqual(['keep-last 1', 'keep-last 2', 'keep-last 3']);
    // Dec 31..29 are kept by keep-last, so daily starts at the 28th and takes 7 more days.
    expect(byRule('daily')).toEqual(['keep-daily 2026-12-28', 'keep-daily 2026-12-27', 'keep-daily 2026-12-26', 'keep-daily 2026-12-25', 'keep-daily 2026-12-24', 'keep-daily 2026-12-23', 'keep-daily 2026-12-22']);
    // 2026-W52 (Dec 21..27) and W53 are covered; the Sundays of W51, W50, W49, W48.
    expect(byRule('weekly')).toEqual(['keep-weekly 2026-W51', 'keep-weekly 2026-W50', 'keep-weekly 2026-W49', 'keep-weekly 2026-W48']);
    // December and November (Nov 29, W48's Sunday) are covered: the last day of each of the 6 months before.
    expect(byRule('monthly')).toEqual(['keep-monthly 2026-10', 'keep-monthly 2026-09', 'keep-monthly 2026-08', 'keep-monthly 2026-07', 'keep-monthly 2026-06', 'keep-monthly 2026-05']);
    expect(kept(d).slice(-6)).toEqual([at(2026, 10, 31, 23, 30), at(2026, 9, 30, 23, 30), at(2026, 8, 31, 23, 30), at(2026, 7, 31, 23, 30), at(2026, 6, 30, 23, 30), at(2026, 5, 31, 23, 30)]);
    expect(d.keep).toHaveLength(3 + 7 + 4 + 6);
    expect(d.remove).toHaveLength(365 - 20);
  });

  test('weeks straddle months: after keep-weekly took Sunday 1 March, keep-monthly keeps the newest of February (Friday 27th, same week)', () => {
    const list = [at(2026, 3, 1), at(2026, 2, 27), at(2026, 2, 20)].map((t) => backup(t));
    const d = decideRetention(list, { weekly: 1, monthly: 2 }, { requireVerified: true });
    expect(reasonsOf(d)).toEqual([['keep-weekly 2026-W09'], ['keep-monthly 2026-02']]);
    expect(removed(d)).toEqual([at(2026, 2, 20)]);
  });

  test('no keep option, or all of them 0, keeps everything', () => {
    const list = [at(2026, 11, 30), at(2026, 11, 29), at(2025, 1, 1)].map((t) => backup(t));
    for (const keep of [{}, { last: 0, daily: 0, yearly: 0 }] as KeepPolicy[]) {
      const d = decideRetention(list, keep, { requireVerified: true });
      expect(d.remove).toEqual([]);
      expect(d.keep.map((k) => k.reasons)).toEqual(list.map(() => ['no keep option set: everything is kept']));
    }
  });

  test('a keep value that is not a whole number >= 0 is refused, naming it', () => {
    expect(() => decideRetention([], { daily: -1 }, { requireVerified: true })).toThrow(/keep\.daily: -1 is not a count/);
    expect(() => decideRetention([], { weekly: 1.5 }, { requireVerified: true })).toThrow(/keep\.weekly: 1\.5/);
  });
});

describe('what never counts and what is never removed', () => {
  test('a failed newest run (incomplete) neither counts nor pushes out the last good backup', () => {
    const good = backup(at(2026, 11, 29, 23));
    const failed = backup(at(2026, 11, 30, 23), { complete: false, verified: false, reason: 'partial directory' });
    const older = backup(at(2026, 11, 28, 23));
    const d = decideRetention([older, failed, good], { last: 1 }, { requireVerified: true });
    expect(dirs(d.keep)).toEqual([good.dir]);
    expect(dirs(d.remove)).toEqual([older.dir]);
    expect(d.ignored).toEqual([{ entry: failed, reason: 'incomplete: partial directory' }]);
  });

  test('with requireVerified, unverified backups are ignored (never counted, never removed); without it they count', () => {
    const newest = backup(at(2026, 11, 30), { verified: false });
    const verified = backup(at(2026, 11, 29));
    const oldUnverified = backup(at(2026, 11, 1), { verified: false });
    const oldVerified = backup(at(2026, 10, 1));
    const list = [newest, verified, oldUnverified, oldVerified];
    const strict = decideRetention(list, { last: 1 }, { requireVerified: true });
    expect(dirs(strict.keep)).toEqual([verified.dir]);
    expect(dirs(strict.remove)).toEqual([oldVerified.dir]);
    expect(strict.ignored.map((i) => [i.entry.dir, i.reason])).toEqual([[newest.dir, 'not verified'], [oldUnverified.dir, 'not verified']]);
    const loose = decideRetention(list, { last: 1 }, { requireVerified: false });
    expect(dirs(loose.keep)).toEqual([newest.dir]);
    expect(dirs(loose.remove)).toEqual([verified.dir, oldUnverified.dir, oldVerified.dir]);
  });

  test('a protected backup is kept whatever the rules say, and says so', () => {
    const list = [at(2026, 11, 30), at(2026, 11, 29), at(2026, 11, 28)].map((t) => backup(t));
    const d = decideRetention(list, { last: 1 }, { requireVerified: true, protect: [list[2]!.dir, list[0]!.dir, '/not/listed'] });
    expect(d.keep.map((k) => [k.entry.dir, k.reasons])).toEqual([
      [list[0]!.dir, ['keep-last 1', 'protected (the backup this run made)']],
      [list[2]!.dir, ['protected (the backup this run made)']],
    ]);
    expect(dirs(d.remove)).toEqual([list[1]!.dir]);
  });

  test('the plan lists every directory, newest first, with its verb and reason', () => {
    const list = [
      backup(at(2026, 11, 30, 23), { complete: false, verified: false, reason: 'INCOMPLETE marker' }),
      backup(at(2026, 11, 30, 1)),
      backup(at(2026, 11, 29, 1)),
      backup(at(2026, 11, 28, 1), { verified: false }),
      backup(at(2026, 11, 27, 1)),
    ];
    const lines = formatRetentionPlan(decideRetention(list, { daily: 2 }, { requireVerified: true }));
    expect(lines).toEqual([
      `ignore ${list[0]!.dir}  (incomplete: INCOMPLETE marker)`,
      `keep   ${list[1]!.dir}  (keep-daily 2026-11-30)`,
      `keep   ${list[2]!.dir}  (keep-daily 2026-11-29)`,
      `ignore ${list[3]!.dir}  (not verified)`,
      `delete ${list[4]!.dir}  (kept by no keep rule)`,
    ]);
  });
});

/** mulberry32: a small seeded PRNG, so that a failing case can be reproduced from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomCase(seed: number) {
  const rnd = prng(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const count = int(40);
  const base = new Date(2026, 11, 31, 23, 0).getTime();
  // Mostly nightly-ish backups over up to three years, with bursts in one hour and duplicate times.
  const span = [3_600_000, 86_400_000 * 3, 86_400_000 * 60, 86_400_000 * 1100][int(4)]!;
  const entries: BackupEntry[] = [];
  for (let i = 0; i < count; i++) {
    const time = i > 0 && rnd() < 0.1 ? entries[int(i)]!.time : new Date(base - Math.floor(rnd() * span));
    const complete = rnd() < 0.75;
    const verified = complete && rnd() < 0.7;
    entries.push({ dir: `/b/vm/${i}`, time, complete, verified, ...(complete ? { runId: `r${i}` } : { reason: 'partial directory' }) });
  }
  const keep: KeepPolicy = {};
  for (const rule of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const roll = rnd();
    if (roll < 0.45) continue;
    keep[rule] = roll < 0.55 ? 0 : 1 + int(6);
  }
  const protect = entries.filter(() => rnd() < 0.1).map((e) => e.dir);
  if (rnd() < 0.2) protect.push('/b/vm/elsewhere');
  return { entries, keep, opts: { requireVerified: rnd() < 0.6, protect } };
}

describe('safety over random inputs', () => {
  test('nothing uncounted or protected is removed; something is kept when it can be; a failed run changes nothing', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const { entries, keep, opts } = randomCase(seed);
      const d = decideRetention(entries, keep, opts);
      const ctx = `seed ${seed}: keep ${JSON.stringify(keep)} requireVerified ${opts.requireVerified}`;
      const counts = (e: BackupEntry) => e.complete && (!opts.requireVerified || e.verified);
      for (const { entry } of d.remove) {
        expect(entry.complete, ctx).toBe(true);
        if (opts.requireVerified) expect(entry.verified, ctx).toBe(true);
        expect(opts.protect.includes(entry.dir), ctx).toBe(false);
      }
      for (const dir of opts.protect) if (entries.some((e) => e.dir === dir && counts(e))) expect(dirs(d.keep), ctx).toContain(dir);
      // Every entry lands in exactly one list; the ignored ones are exactly those that do not count.
      expect([...dirs(d.keep), ...dirs(d.remove), ...dirs(d.ignored)].sort(), ctx).toEqual(entries.map((e) => e.dir).sort());
      expect(dirs(d.ignored).sort(), ctx).toEqual(entries.filter((e) => !counts(e)).map((e) => e.dir).sort());
      const counted = entries.filter(counts);
      const anyKeep = Object.values(keep).some((n) => n >= 1);
      if (counted.length > 0 && anyKeep) expect(d.keep.length, ctx).toBeGreaterThan(0);
      if (!anyKeep) expect(d.remove, ctx).toEqual([]);
      // The newest counted backup is always kept when a rule keeps anything.
      if (counted.length > 0 && anyKeep) expect(dirs(d.keep)[0], ctx).toBe(dirs(decideRetention(counted, keep, opts).keep)[0]);
      // Backups that do not count change nothing: the same decision without them.
      const alone = decideRetention(counted, keep, opts);
      expect(dirs(d.remove), ctx).toEqual(dirs(alone.remove));
      expect(d.keep, ctx).toEqual(alone.keep);
      // No rule keeps more than its N, nor two backups of one period.
      for (const rule of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
        const periods = d.keep.flatMap((k) => k.reasons).filter((r) => r.startsWith(`keep-${rule} `));
        expect(periods.length, ctx).toBeLessThanOrEqual(keep[rule] ?? 0);
        expect(new Set(periods).size, ctx).toBe(periods.length);
      }
    }
  });
});
