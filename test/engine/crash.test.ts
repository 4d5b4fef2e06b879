// Real processes: a run killed with -9 leaves a journal and lock that the next run finds; two live runs contend.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireVmLock, isProcessAlive, lockPath, listOpenRuns, readVmLock, type LockInfo } from '../../src/engine/index.js';
import { VcbError } from '../../src/errors.js';

const noTakeover = (message: string): void => {
  throw new Error(`unexpected lock takeover: ${message}`);
};
import { compileEngine, spawnScript } from './helpers/child-engine.js';

let engineDir: string;
beforeAll(() => {
  engineDir = compileEngine();
});

/** A run that takes the lock, journals a snapshot, says "acquired" and then waits forever. */
const holdingRun = `
import { lockVm, Journal, UndoStack } from './engine/index.js';
const [stateDir, runId] = process.argv.slice(2);
const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId });
const undo = new UndoStack(journal);
await lockVm(undo, { stateDir, host: 'esx1', vm: 'web01', runId, argv: ['-a', 'name:web01'],
  onWarning: (message) => console.error(message) });
undo.push({ kind: 'snapshot', description: 'snapshot vcb-1 of web01', resource: { vmid: 12, snapshot: 'vcb-1' },
  release: async () => {} });
console.log('acquired');
setInterval(() => {}, 1000);
`;

describe('after kill -9', () => {
  it('listOpenRuns reports the outstanding resources with a dead pid, and the next run takes the stale lock over', async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'vcb-crash-')), 'state');
    const child = spawnScript(engineDir, 'holding-run', holdingRun, [stateDir, 'crashed-run']);
    await child.waitForLine('acquired');
    const pid = child.process.pid!;

    const whileRunning = listOpenRuns(stateDir);
    expect(whileRunning.map((r) => [r.runId, r.pidAlive])).toEqual([['crashed-run', true]]);

    child.process.kill('SIGKILL');
    const exit = await child.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(isProcessAlive(pid)).toBe(false);

    const [run, ...others] = listOpenRuns(stateDir, { host: 'esx1', vm: 'web01' });
    expect(others).toEqual([]);
    expect(run).toMatchObject({ runId: 'crashed-run', host: 'esx1', vm: 'web01', pid, pidAlive: false, ended: undefined });
    expect(run!.outstanding.map((o) => [o.kind, o.resource])).toEqual([
      ['lock', { host: 'esx1', vm: 'web01', path: lockPath(stateDir, 'esx1', 'web01'), runId: 'crashed-run' }],
      ['snapshot', { vmid: 12, snapshot: 'vcb-1' }],
    ]);

    expect(readVmLock(stateDir, 'esx1', 'web01')).toMatchObject({ pid, runId: 'crashed-run', argv: ['-a', 'name:web01'] });
    const warnings: Array<[string, LockInfo | undefined]> = [];
    const lock = acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'next-run', onWarning: (m, prev) => warnings.push([m, prev]) });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]![0]).toContain(`pid ${pid} is no longer running`);
    expect(warnings[0]![1]?.runId).toBe('crashed-run');
    expect(readVmLock(stateDir, 'esx1', 'web01')?.runId).toBe('next-run');
    lock.release();
  });
});

describe('two live runs for one VM', () => {
  it('the second gets a LOCKED error naming the first one', async () => {
    const stateDir = join(mkdtempSync(join(tmpdir(), 'vcb-contend-')), 'state');
    const first = spawnScript(engineDir, 'first-run', holdingRun, [stateDir, 'first-run']);
    await first.waitForLine('acquired');

    const second = spawnScript(
      engineDir,
      'second-run',
      `
import { acquireVmLock } from './engine/index.js';
const [stateDir] = process.argv.slice(2);
try {
  acquireVmLock({ stateDir, host: 'esx1', vm: 'web01', runId: 'second-run', onWarning: (message) => console.error(message) });
  console.log('acquired');
} catch (error) {
  console.log(JSON.stringify({ code: error.code, message: error.message }));
}
`,
      [stateDir],
    );
    const result = await second.exited;
    first.process.kill('SIGKILL');
    await first.exited;
    expect(result.code).toBe(0);
    const reported = JSON.parse(result.stdout.trim()) as { code: string; message: string };
    expect(reported.code).toBe('LOCKED');
    expect(reported.message).toContain(`already being backed up by pid ${first.process.pid} since`);
    expect(reported.message).toContain('run first-run');
  });
});
