// The password prompt on a terminal (no echo) and ipaddr: selectors given as DNS names, through the real CLI.

import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/sim/inventory.js';
import { BIN, startBench, type Bench } from '../cli/cli-helpers.js';

const inventory = parseInventory({
  datastores: [{ name: 'ds1', capacity: '256M' }],
  vms: [{ name: 'lo-vm', vmid: 5, ip: '127.0.0.1', disks: [{ size: '8M', fillBytes: '1M' }], guest: { writesPerSecond: 0 } }],
});

describe('credentials and selectors at the terminal', () => {
  let bench: Bench;
  beforeAll(async () => {
    bench = await startBench(inventory);
  });
  afterAll(async () => bench?.stop());

  it('asks for the password on a terminal without echoing it', async () => {
    const out = join(bench.work, 'prompted');
    // The bin itself, as an admin at a terminal starts it: its first line picks node and node's flags.
    const cmd = [BIN, '-h', '127.0.0.1', '--port', String(bench.sim.port), '-u', 'root', '--host-key', bench.sim.fingerprint, '--state-dir', bench.stateDir, '-a', 'name:lo-vm', '-r', out]
      .map((a) => `'${a.replace(/'/g, `'\\''`)}'`)
      .join(' ');
    const child = execa('script', ['-qec', cmd, '/dev/null'], { reject: false, env: { VCBMOUNTER_PASSWORD: '' }, extendEnv: true });
    let seen = '';
    let sent = false;
    child.stdout!.on('data', (c: Buffer) => {
      seen += c.toString('utf8');
      if (!sent && seen.includes('Password for root@127.0.0.1')) {
        sent = true;
        child.stdin!.write(`${bench.sim.password}\r`);
      }
    });
    const r = await child;
    expect(sent).toBe(true);
    expect(r.exitCode).toBe(0);
    expect(seen).not.toContain(bench.sim.password);
    expect(existsSync(join(out, 'catalog'))).toBe(true);
  });

  it('resolves a DNS name given to ipaddr:', async () => {
    const r = await bench.cli(['-a', 'ipaddr:localhost', '-r', join(bench.work, 'by-dns')]);
    expect(r.exitCode).toBe(0);
    expect(existsSync(join(bench.work, 'by-dns', 'catalog'))).toBe(true);
  });

  it('says when an ipaddr: name does not resolve', async () => {
    const r = await bench.cli(['-a', 'ipaddr:no-such-host.invalid', '-r', join(bench.work, 'never')]);
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toContain('does not resolve');
    expect(existsSync(join(bench.work, 'never'))).toBe(false);
  });
});
