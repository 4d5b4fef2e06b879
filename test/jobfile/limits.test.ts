// The job runner's limits: never more at once than total, per host or per datastore; a waiting VM does not hold up another host's.

import { describe, expect, test } from 'vitest';
import { runWithinLimits, type Limits } from '../../src/jobfile/limits.js';

interface Item {
  id: number;
  host: string;
  datastore: string;
  ms: number;
}

async function simulate(items: Item[], limits: Limits, stopAfter?: number) {
  const running = new Set<Item>();
  let peak = 0;
  const peakHost = new Map<string, number>();
  const peakDs = new Map<string, number>();
  const started: number[] = [];
  const skipped: number[] = [];
  await runWithinLimits(
    items,
    limits,
    async (x) => {
      started.push(x.id);
      running.add(x);
      peak = Math.max(peak, running.size);
      const h = [...running].filter((r) => r.host === x.host).length;
      const d = [...running].filter((r) => r.host === x.host && r.datastore === x.datastore).length;
      peakHost.set(x.host, Math.max(peakHost.get(x.host) ?? 0, h));
      peakDs.set(`${x.host}/${x.datastore}`, Math.max(peakDs.get(`${x.host}/${x.datastore}`) ?? 0, d));
      await new Promise((r) => setTimeout(r, x.ms));
      running.delete(x);
    },
    { stopped: () => stopAfter !== undefined && started.length >= stopAfter, skip: (x) => skipped.push(x.id) },
  );
  return { peak, peakHost, peakDs, started, skipped };
}

function items(n: number, seed: number): Item[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  return Array.from({ length: n }, (_, id) => ({ id, host: `h${Math.floor(rnd() * 3)}`, datastore: `ds${Math.floor(rnd() * 2)}`, ms: 1 + Math.floor(rnd() * 8) }));
}

describe('runWithinLimits', () => {
  test.each([1, 2, 3, 4, 5])('random workload %i: every item runs once and no limit is exceeded', async (seed) => {
    const list = items(30, seed);
    const limits = { total: 4, perHost: 2, perDatastore: 1 };
    const r = await simulate(list, limits);
    expect([...r.started].sort((a, b) => a - b)).toEqual(list.map((x) => x.id));
    expect(r.peak).toBeLessThanOrEqual(4);
    for (const v of r.peakHost.values()) expect(v).toBeLessThanOrEqual(2);
    for (const v of r.peakDs.values()) expect(v).toBeLessThanOrEqual(1);
  });

  test('the limits are used: with room, items of different hosts run together', async () => {
    const list = [0, 1, 2, 3].map((id) => ({ id, host: `h${id}`, datastore: 'ds', ms: 20 }));
    expect((await simulate(list, { total: 4 })).peak).toBe(4);
  });

  test('an item waiting for its host lets a later item of another host start first', async () => {
    const list = [
      { id: 0, host: 'a', datastore: 'x', ms: 30 },
      { id: 1, host: 'a', datastore: 'x', ms: 5 },
      { id: 2, host: 'b', datastore: 'y', ms: 5 },
    ];
    const r = await simulate(list, { total: 2, perHost: 1 });
    expect(r.started).toEqual([0, 2, 1]);
  });

  test('once stopped, the items not started are skipped and the running ones finish', async () => {
    const list = [0, 1, 2, 3, 4].map((id) => ({ id, host: 'h', datastore: 'd', ms: 5 }));
    const r = await simulate(list, { total: 1 }, 2);
    expect(r.started).toEqual([0, 1]);
    expect(r.skipped).toEqual([2, 3, 4]);
  });
});
