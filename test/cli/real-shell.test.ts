// The product's command lines run by a real sh under a real OpenSSH sshd (tools/test-support/openssh-host.ts): VMs and
// paths full of shell syntax back up byte-exact, and nothing in any name is ever run. Unquoting any one remote command
// fails this file: scripts/mutate-quoting shows it (docs/reliability.md).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { binCommand } from '../../tools/test-support/bin-command.js';
import { CANARY, startOpenSshHost, type OpenSshHost } from '../../tools/test-support/openssh-host.js';
import { DATASTORE, smallInventory } from '../sim/integration/helpers.js';
import { readCatalog, SNAPSHOT_NAME } from './cli-helpers.js';

/** Every way a POSIX sh could run the canary if a name reached it unquoted. */
const HOSTILE_NAMES = [
  `quoted vm (it's "x"); $(${CANARY} dollar)`,
  `tick\`${CANARY} backtick\` & ${CANARY} amp | ${CANARY} pipe; ${CANARY} semi && ${CANARY} and || ${CANARY} or > out`,
];

for (const kind of ['esxi', 'esx3'] as const) {
  describe(`${kind}: a real sh under OpenSSH`, () => {
    let sim: Simulator;
    let host: OpenSshHost;
    let work: string;
    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'vcb-real-shell-'));
      sim = await startSimulator({
        inventory: smallInventory(
          HOSTILE_NAMES.map((name, i) => ({ name, vmid: 40 + i, disks: [{ size: '8M', fillBytes: '2M' }, { size: '4M', thin: false, fillBytes: '1M' }], guest: { writesPerSecond: 0 } })),
          { kind },
        ),
      });
      host = await startOpenSshHost(sim);
    });
    afterAll(async () => {
      await host?.stop();
      await sim?.stop();
      if (work) rmSync(work, { recursive: true, force: true });
    });

    // Each command opens a session on a real sshd (about half a second here): one VM per transport mode, and on
    // ESX 3.x nbd only (its san run sends no command the ESXi san run and its nbd run do not).
    for (const [i, mode] of (kind === 'esxi' ? (['nbd', 'san'] as const) : (['nbd'] as const)).entries()) {
      const name = HOSTILE_NAMES[i]!;
      test(`-m ${mode}: ${JSON.stringify(name)} backs up byte-exact, its snapshot is removed, and nothing in its name runs`, { timeout: 240_000 }, async () => {
        const ds = sim.esx.vfs.datastores().find((d) => d.name === DATASTORE)!;
        const out = join(work, mode);
        const run = binCommand([
          '-h', '127.0.0.1', '--port', String(host.port), '-u', host.user, '-i', host.identityFile, '--host-key', host.fingerprint,
          '--state-dir', join(work, 'state'), '-a', `name:${name}`, '-r', out, '-m', mode,
          ...(mode === 'san' ? ['--lun', `${ds.lvid}=${ds.lunPath}`] : []),
        ]);
        const r = await execa(run.command, run.args, { reject: false, env: { VCBMOUNTER_PASSWORD: '' }, extendEnv: true });
        // The run's last words name the failed step and the host's answer.
        expect(r.exitCode, String(r.stderr).trim().split('\n').slice(-2).join(' / ')).toBe(0);
        const vm = sim.esx.vm(name);
        expect(vm.snapshots.map((s) => s.name)).not.toContain(SNAPSHOT_NAME);
        const catalog = readCatalog(out);
        for (let d = 0; d < 2; d++) {
          expect(readFileSync(join(out, catalog.disks[d]!.extentFiles[0]!)).equals(vm.readDisk(d)), `disk ${d}`).toBe(true);
        }
        expect(host.canaryCalls(), 'commands injected through a name').toEqual([]);
      });
    }
  });
}
