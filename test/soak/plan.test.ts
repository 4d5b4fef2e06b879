// The soak run's plan: the same seed gives the same cycles, every cause has documented exit codes, SIGKILL recovery alternates.

import { describe, expect, test } from 'vitest';
import { parseSoakArgs } from '../../tools/soak/args.js';
import { describeCause, expectedExits, planCycles, SOAK_VMS, TARGETS } from '../../tools/soak/plan.js';
import { Prng } from '../../tools/soak/prng.js';

/** A plan as text: what a reader compares between two runs. */
function text(seed: number, n: number): string[] {
  return planCycles(seed, n).map((p) => `${p.vm.name} ${describeCause(p)} ${p.replace} ${p.flags.join(' ')} ${p.expected.join('|')}`);
}

describe('soak plan', () => {
  test('the same seed gives the same sequence of choices; another seed another one', () => {
    expect(text(1, 300)).toEqual(text(1, 300));
    expect(text(1, 300)).not.toEqual(text(2, 300));
    // A cycle's choices do not depend on how many cycles are planned.
    expect(text(1, 50)).toEqual(text(1, 300).slice(0, 50));
  });

  test('about a third of the cycles have no fault; faults and signals of every kind occur', () => {
    const plans = planCycles(7, 600);
    const none = plans.filter((p) => p.kind === 'none' || p.kind === 'recover').length;
    expect(none / plans.length).toBeGreaterThan(0.25);
    expect(none / plans.length).toBeLessThan(0.45);
    expect(new Set(plans.flatMap((p) => (p.fault ? [p.fault.action] : [])))).toEqual(new Set(['fail', 'hang', 'drop', 'fill', 'late']));
    expect(new Set(plans.flatMap((p) => (p.signal ? [p.signal.name] : [])))).toEqual(new Set(['SIGINT', 'SIGTERM', 'SIGKILL']));
    expect(new Set(plans.map((p) => p.vm.name))).toEqual(new Set(SOAK_VMS.map((v) => v.name)));
    expect(plans.some((p) => p.replace)).toBe(true);
  });

  test('every planned fault has expected exit codes, and hang/late cycles get short snapshot and cleanup timeouts', () => {
    for (const p of planCycles(3, 600)) {
      expect(p.expected.length).toBeGreaterThan(0);
      if (!p.fault) continue;
      expect(expectedExits(p.fault.action, p.fault.target.id, p.fault.always)).toEqual(p.expected);
      if (p.fault.action === 'hang' || p.fault.action === 'late') expect(p.flags).toContain('--snapshot-timeout');
      if (p.fault.action === 'late') expect(p.fault.delayMs).toBeGreaterThan(2000);
      if (p.fault.target.appliesTo) expect(p.fault.target.appliesTo(p.vm)).toBe(true);
    }
    for (const t of TARGETS) expect(() => new RegExp(t.match)).not.toThrow();
  });

  test('SIGKILL alternates between cleanup at once and recovery by the next backup of that VM, which then has no fault', () => {
    const plans = planCycles(5, 600);
    const kills = plans.filter((p) => p.signal?.name === 'SIGKILL');
    expect(kills.length).toBeGreaterThan(4);
    kills.forEach((p, i) => expect(p.signal!.cleanupAfter).toBe(i % 2 === 0));
    for (const k of kills.filter((p) => !p.signal!.cleanupAfter)) {
      const next = plans.find((p) => p.cycle > k.cycle && p.vm.name === k.vm.name);
      if (next) expect(next.kind).toBe('recover');
    }
  });

  test('the generator is deterministic and spreads over its range', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    const draws = Array.from({ length: 1000 }, () => a.next());
    expect(draws).toEqual(Array.from({ length: 1000 }, () => b.next()));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const low = draws.filter((x) => x < 0.5).length;
    expect(low).toBeGreaterThan(400);
    expect(low).toBeLessThan(600);
  });

  test('arguments: N, --seed, --help', () => {
    expect(parseSoakArgs(['20', '--seed', '9'])).toMatchObject({ cycles: 20, seed: 9, seedGiven: true });
    expect(parseSoakArgs(['--seed=3', '5'])).toMatchObject({ cycles: 5, seed: 3 });
    expect(parseSoakArgs(['--help']).help).toBe(true);
    expect(() => parseSoakArgs([])).toThrow(/number of cycles/);
    expect(() => parseSoakArgs(['5', '--seed', 'x'])).toThrow(/integer/);
  });
});
