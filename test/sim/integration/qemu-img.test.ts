// qemu-img reads a two-snapshot chain copied off the simulated host with cat: same bytes as the guest sees.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellQuote } from '../../../src/util/shell-quote.js';
import { appliesSince, FAST_GUEST, makeClientKey, markerIndex, openSsh, run, smallInventory, waitUntil, type ClientKey, type OpenSsh } from './helpers.js';

let key: ClientKey;
let sim: Simulator;
let ssh: OpenSsh;
let work: string;

beforeAll(async () => {
  key = await makeClientKey();
  work = mkdtempSync(join(tmpdir(), 'sim-e2e-qemu-'));
  sim = await startSimulator({
    inventory: smallInventory([{ name: 'chain vm', disks: [{ size: '24M', fillBytes: '3M' }], guest: FAST_GUEST }]),
    authorizedKeys: [key.publicKey],
  });
  ssh = await openSsh(sim, key);
});
afterAll(async () => {
  await sim?.stop();
  key?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

test('qemu-img converts the top descriptor of a copied chain to the disk the guest sees', async () => {
  const vm = sim.esx.vm('chain vm');
  const events = vm.guest.events;
  for (const name of ['s1', 's2']) {
    const from = events.length;
    await ssh.ok(`vim-cmd vmsvc/snapshot.create ${vm.vmid} ${name} 'taken while writing' 0 0`);
    const created = markerIndex(events, 'snapshot.created', from);
    expect(created).toBeGreaterThanOrEqual(from);
    await waitUntil(() => appliesSince(events, created) >= 30, 'guest writes after the snapshot');
  }
  vm.guest.stop();
  const expected = vm.readDisk(0);

  const listing = await ssh.ok(`ls ${shellQuote(vm.dir)}`);
  const vmdks = listing.split('\n').filter((f) => f.endsWith('.vmdk'));
  expect(vmdks).toEqual(['chain vm-000001-delta.vmdk', 'chain vm-000001.vmdk', 'chain vm-000002-delta.vmdk', 'chain vm-000002.vmdk', 'chain vm-flat.vmdk', 'chain vm.vmdk']);
  for (const f of vmdks) {
    const r = await ssh.run(`cat ${shellQuote(`${vm.dir}/${f}`)}`);
    expect(r.code).toBe(0);
    writeFileSync(join(work, f), r.stdout);
  }

  const top = join(work, 'chain vm-000002.vmdk');
  const out = join(work, 'out.raw');
  const convert = await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', top, out]);
  expect(convert.stderr).toBe('');
  expect(convert.code).toBe(0);
  const raw = readFileSync(out);
  expect(raw.length).toBe(expected.length);
  expect(raw.equals(expected)).toBe(true);

  const base = await run('qemu-img', ['convert', '-f', 'vmdk', '-O', 'raw', join(work, 'chain vm.vmdk'), join(work, 'base.raw')]);
  expect(base.code).toBe(0);
  expect(readFileSync(join(work, 'base.raw')).equals(sim.esx.vfs.readFile(`${vm.dir}/chain vm-flat.vmdk`))).toBe(true);
  expect(readFileSync(join(work, 'base.raw')).equals(expected)).toBe(false);

  const info = await run('qemu-img', ['info', '--backing-chain', '--output=json', top]);
  expect(info.code).toBe(0);
  const chain = JSON.parse(info.stdout.toString()) as Array<{ filename: string; format: string; 'virtual-size': number; 'format-specific'?: { data?: { 'create-type'?: string } } }>;
  expect(chain.map((c) => c.filename.split('/').pop())).toEqual(['chain vm-000002.vmdk', 'chain vm-000001.vmdk', 'chain vm.vmdk']);
  expect(chain.map((c) => c['format-specific']?.data?.['create-type'])).toEqual(['vmfsSparse', 'vmfsSparse', 'vmfs']);
  expect(chain.every((c) => c.format === 'vmdk' && c['virtual-size'] === 24 * 1024 * 1024)).toBe(true);
});
