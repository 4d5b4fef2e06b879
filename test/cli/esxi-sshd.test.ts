// Backups through an sshd as strict as a host's: keyboard-interactive logins only, 2 sessions per connection,
// and unused connections closed after 50 ms (the run logs in again between commands; test/transport/sshd-policy.test.ts
// shows that deterministically): the export stays exact.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { replayWrites } from '../../src/sim/guest/guest.js';
import { DATASTORE, FAST_GUEST, markerIndex, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME, startBench, type Bench } from './cli-helpers.js';

let bench: Bench;

beforeAll(async () => {
  bench = await startBench(
    smallInventory(
      [
        {
          name: 'strict',
          vmid: 31,
          disks: [
            { size: '24M', thin: true, fillBytes: '6M' },
            { size: '16M', thin: false, fillBytes: '4M' },
          ],
          guest: FAST_GUEST,
        },
      ],
      { kind: 'esxi', ssh: { maxSessions: 2, unusedConnectionTimeout: 0.05 } },
    ),
  );
});
afterAll(async () => bench?.stop());

for (const mode of ['nbd', 'san'] as const) {
  test(`-m ${mode}: the backup completes, equals the disks at the snapshot, and leaves no snapshot`, async () => {
    const vm = bench.sim.esx.vm('strict');
    const initial = [vm.readDisk(0), vm.readDisk(1)];
    const from = vm.guest.events.length;
    const loginsBefore = bench.sim.authAttempts.filter((a) => a.accepted).length;
    const out = join(bench.work, mode);
    const ds = bench.sim.esx.vfs.datastores().find((d) => d.name === DATASTORE)!;
    const r = await bench.cli(['-a', 'name:strict', '-r', out, '-m', mode, ...(mode === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : [])]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);

    const events = vm.guest.events.slice(from);
    const snapAt = markerIndex(events, 'snapshot.created');
    const atSnapshot = replayWrites(initial, events, FAST_GUEST.seed, snapAt);
    const catalog = readCatalog(out);
    for (let i = 0; i < 2; i++) {
      expect(readFileSync(join(out, catalog.disks[i]!.extentFiles[0]!)).equals(atSnapshot[i]!), `disk ${i}`).toBe(true);
    }
    const secrets = bench.sim.authAttempts.filter((a) => a.method === 'password');
    expect(secrets, 'no attempt by the password method on a host that has it off').toEqual([]);
    // How often the host closed the unused connection depends on timing; each time the run logged in again.
    expect(bench.sim.authAttempts.filter((a) => a.accepted).length - loginsBefore).toBeGreaterThanOrEqual(1);
  });
}
