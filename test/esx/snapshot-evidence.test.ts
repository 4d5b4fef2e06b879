// judgeOwned and parseChainTops: when ESX 3.x's snapshot is the run's own, by hassnapshot and the disk chains alone.

import { describe, expect, it } from 'vitest';
import { judgeOwned, parseChainTops, type ChainTop, type OwnedSnapshot } from '../../src/esx/snapshot-evidence.js';

const base = (device: string): ChainTop => ({ device, path: `/d/${device}.vmdk`, links: 1 });
const grown = (device: string, n = 1): ChainTop => ({ device, path: `/d/${device}-00000${n}.vmdk`, links: 2, parent: `/d/${device}.vmdk` });
const owned: OwnedSnapshot = { baseline: { hassnapshot: 0, chains: [base('a'), base('b')] } };

describe('judgeOwned', () => {
  it.each([
    ['every chain one link longer on its old top, hostd reports one', true, [grown('a'), grown('b')], 'ours'],
    ['chains as before, hostd reports none', false, [base('a'), base('b')], 'absent'],
  ] as const)('%s: %s', (_what, has, now, kind) => {
    expect(judgeOwned(owned, has, now).kind).toBe(kind);
  });

  it.each([
    ['hostd reports a snapshot on unchanged chains', true, [base('a'), base('b')], /no disk chain grew/],
    ['new deltas but hostd reports none', false, [grown('a'), grown('b')], /hostd reports no snapshot/],
    ['one chain grew, the other did not', true, [grown('a'), base('b')], /b has 1 links/],
    ['a chain grew by two links', true, [grown('a'), { device: 'b', path: '/d/b-000002.vmdk', links: 3, parent: '/d/b-000001.vmdk' }], /b has 3 links/],
    ['a disk was added', true, [grown('a'), grown('b'), base('c')], /disks changed/],
  ] as const)('unclear: %s', (_what, has, now, why) => {
    const state = judgeOwned(owned, has, [...now]);
    expect(state.kind).toBe('unclear');
    expect(state.kind === 'unclear' && state.why).toMatch(why);
  });

  it('with the tops seen after the create, a different delta of the same depth is not ours', () => {
    const seen: OwnedSnapshot = { ...owned, created: [grown('a'), grown('b')] };
    expect(judgeOwned(seen, true, [grown('a'), grown('b')]).kind).toBe('ours');
    expect(judgeOwned(seen, true, [grown('a'), grown('b', 2)]).kind).toBe('unclear');
  });
});

describe('parseChainTops', () => {
  it('reads back what was journaled, and rejects a malformed entry', () => {
    const tops = [grown('a'), base('b')];
    expect(parseChainTops(JSON.parse(JSON.stringify(tops)), 'x')).toEqual(tops);
    expect(parseChainTops(undefined, 'x')).toBeUndefined();
    expect(() => parseChainTops([{ device: 'a', path: 3, links: 1 }], 'x')).toThrow(/x has a malformed entry/);
    expect(() => parseChainTops('a', 'x')).toThrow(/not a list/);
  });
});
