// A batch of dd writes a line to stderr after every read: those lines must not reopen the SSH window while nobody reads stdout (simulated host over SSH).

import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectSsh, type SshTransport } from '../../src/transport/index.js';
import { startSimulator, type Simulator } from '../../src/sim/simulator.js';
import { ddBatchLine } from '../../src/vlun/dd-plan.js';
import { smallInventory } from '../sim/integration/helpers.js';

const MiB = 1024 * 1024;
const READS = 48;

describe('stdout backpressure with stderr between the reads', () => {
  let sim: Simulator;
  let transport: SshTransport;
  let path: string;

  beforeAll(async () => {
    sim = await startSimulator({ inventory: smallInventory([{ name: 'chatty', power: 'off', disks: [{ size: `${READS}M`, thin: false, fillBytes: `${READS}M` }] }]) });
    transport = await connectSsh({ host: sim.host, port: sim.port, username: 'root', password: sim.password, hostKey: { kind: 'fingerprint', fingerprint: sim.fingerprint } });
    path = sim.esx.vm('chatty').diskPath(0).replace(/\.vmdk$/, '-flat.vmdk');
  });
  afterAll(async () => {
    await transport?.close().catch(() => {});
    await sim?.stop();
  });

  it('buffers a few MiB, not the batch, while the reader waits; then every byte arrives', async () => {
    const reads = Array.from({ length: READS }, (_, i) => ({ offset: i * MiB, length: MiB, blockSize: MiB, skip: i, count: 1 }));
    const { stdout, done } = transport.stream(ddBatchLine(path, reads));
    await expect.poll(() => stdout.readableLength, { timeout: 10_000 }).toBeGreaterThan(0);
    await sleep(800);
    // What the SSH library holds for this channel beyond our own stdout buffer (its internal source stream).
    const channel = (stdout as unknown as { source: Readable }).source;
    const held = stdout.readableLength + channel.readableLength;
    expect(held, 'bytes held while nobody read').toBeLessThanOrEqual(6 * MiB);
    let received = 0;
    for await (const chunk of stdout) received += (chunk as Buffer).length;
    expect(received).toBe(READS * MiB);
    const outcome = await done;
    expect(outcome.exitCode).toBe(0);
  });
});
