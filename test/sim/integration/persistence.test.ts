// A simulator restarted on the same state dir is the same host: VMs, snapshots, disk bytes, host key and password.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { vimCmd } from '../../../src/esx/commands/vim-cmd.js';
import { replayWrites } from '../../../src/sim/guest/guest.js';
import { startSimulator, type Simulator } from '../../../src/sim/simulator.js';
import { shellJoin } from '../../../src/util/shell-quote.js';
import { appliesSince, FAST_GUEST, makeClientKey, openSsh, smallInventory, waitUntil, type ClientKey } from './helpers.js';

let key: ClientKey;
let stateDir: string;
const running: Simulator[] = [];

const inventory = smallInventory([
  { name: 'busy vm', disks: [{ size: '16M', fillBytes: '2M' }, { size: '16M', thin: false }], guest: FAST_GUEST },
  { name: 'cold', power: 'off', disks: [{ size: '16M', fillBytes: '3M' }] },
]);

async function start(): Promise<Simulator> {
  const sim = await startSimulator({ stateDir, inventory, authorizedKeys: [key.publicKey] });
  running.push(sim);
  return sim;
}

beforeAll(async () => {
  key = await makeClientKey();
  stateDir = mkdtempSync(join(tmpdir(), 'sim-e2e-state-'));
});
afterAll(async () => {
  for (const sim of running) await sim.stop();
  key?.cleanup();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

test('stop and restart on the same state dir keeps VMs, snapshots, disk content, host key and password', async () => {
  const first = await start();
  const ssh1 = await openSsh(first, key);
  const busy = first.esx.vm('busy vm');
  await ssh1.ok(`vim-cmd vmsvc/snapshot.create ${busy.vmid} keep 'survives a restart' 0 0`);
  await waitUntil(() => appliesSince(busy.guest.events, 0) >= 30, 'guest writes');
  busy.guest.stop();
  const disksBefore = [busy.readDisk(0), busy.readDisk(1)];
  const coldBefore = first.esx.vm('cold').readDisk(0);
  const listBefore = await ssh1.ok(shellJoin(vimCmd.getAllVms()));
  const treeBefore = await ssh1.ok(shellJoin(vimCmd.snapshotGet(String(busy.vmid))));
  const identity = { fingerprint: first.fingerprint, password: first.password };
  await first.stop();

  const second = await start();
  const again = second.esx.vm('busy vm');
  const events = again.guest.events;
  const restartedAt = events.length;
  const disksNow = [again.readDisk(0), again.readDisk(1)];
  expect({ fingerprint: second.fingerprint, password: second.password }).toEqual(identity);
  expect(second.stateDir).toBe(first.stateDir);

  const replayed = replayWrites(disksBefore, events.slice(0, restartedAt), again.spec.guest.seed);
  expect(disksNow[0]!.equals(replayed[0]!)).toBe(true);
  expect(disksNow[1]!.equals(replayed[1]!)).toBe(true);
  expect(second.esx.vm('cold').readDisk(0).equals(coldBefore)).toBe(true);

  const ssh2 = await openSsh(second, key);
  expect(await ssh2.ok(shellJoin(vimCmd.getAllVms()))).toBe(listBefore);
  expect(await ssh2.ok(shellJoin(vimCmd.snapshotGet(String(again.vmid))))).toBe(treeBefore);
  expect(await ssh2.ok(shellJoin(vimCmd.powerGetState(String(again.vmid))))).toBe('Retrieved runtime info\nPowered on\n');
  expect(again.diskPath(0)).toBe(`${again.dir}/busy vm-000001.vmdk`);
  expect(again.diskPath(1)).toBe(`${again.dir}/busy vm_1-000001.vmdk`);

  await waitUntil(() => appliesSince(events, restartedAt) >= 10, 'guest writes after the restart');
  again.guest.stop();
  const final = replayWrites(disksNow, events.slice(restartedAt), again.spec.guest.seed);
  expect(again.readDisk(0).equals(final[0]!)).toBe(true);
  expect(again.readDisk(1).equals(final[1]!)).toBe(true);
  expect(second.esx.vfs.readFile(`${again.dir}/busy vm-flat.vmdk`).equals(disksBefore[0]!)).toBe(false);
});
