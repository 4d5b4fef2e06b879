// Real signals to a child run: the first unwinds and exits with the signal's code, a second forces exit.

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPT_MESSAGE, listOpenRuns } from '../../src/engine/index.js';
import { compileEngine, spawnScript } from './helpers/child-engine.js';

let engineDir: string;
beforeAll(() => {
  engineDir = compileEngine();
});

/**
 * A run whose step 'prepare' registers a snapshot (its release writes a marker file, or hangs in
 * "hang" mode) and whose step 'export' waits until aborted. Force exits with 99, grace expiry 98.
 */
const interruptibleRun = `
import { writeFileSync } from 'node:fs';
import { installSignalHandlers, signalExitCode, Journal, UndoStack, runSteps } from './engine/index.js';
const [stateDir, marker, mode, graceMs] = process.argv.slice(2);
const handlers = installSignalHandlers({
  print: (line) => process.stderr.write(line + '\\n'),
  onForce: (reason) => { console.log('forced by ' + reason); process.exit(reason === 'grace-expired' ? 98 : 99); },
  graceMs: graceMs ? Number(graceMs) : undefined,
});
const journal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'sig-run' });
const undo = new UndoStack(journal);
const log = { info() {}, warn() {}, error() {} };
const steps = [
  { name: 'prepare', description: 'create snapshot', run: async (ctx) => {
      ctx.undo.push({ kind: 'snapshot', description: 'snapshot vcb-1', resource: { snapshot: 'vcb-1' },
        release: async () => {
          if (mode === 'hang') { console.log('releasing'); return new Promise(() => setInterval(() => {}, 1000)); }
          writeFileSync(marker, 'released');
        } });
  } },
  { name: 'export', description: 'export disks', run: (ctx) => new Promise((_, reject) => {
      const stillExporting = setInterval(() => {}, 1000);
      console.log('ready');
      ctx.signal.addEventListener('abort', () => { clearInterval(stillExporting); reject(ctx.signal.reason); });
  }) },
];
try {
  await runSteps(steps, { signal: handlers.signal, undo, journal, log, unwindTimeoutMs: 60_000, vm: 'web01' });
  console.log('finished');
} catch (error) {
  console.log(JSON.stringify({ code: error.code, step: error.context?.step, message: error.message }));
  process.exitCode = handlers.received ? signalExitCode(handlers.received) : 1;
} finally {
  handlers.dispose();
}
`;

function start(mode: 'normal' | 'hang', graceMs?: number) {
  const dir = mkdtempSync(join(tmpdir(), 'vcb-signal-'));
  const stateDir = join(dir, 'state');
  const marker = join(dir, 'released');
  const child = spawnScript(engineDir, `run-${mode}`, interruptibleRun, [stateDir, marker, mode, String(graceMs ?? '')]);
  return { child, stateDir, marker };
}

describe('signal handling in a real process', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s aborts the run, runs its cleanup and exits with %i', async (signal, exitCode) => {
    const { child, stateDir, marker } = start('normal');
    await child.waitForLine('ready');
    child.process.kill(signal);
    const result = await child.exited;
    expect(result.code).toBe(exitCode);
    expect(result.stderr).toContain(INTERRUPT_MESSAGE);
    expect(readFileSync(marker, 'utf8')).toBe('released');
    const reported = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { code: string; step: string; message: string };
    expect(reported).toEqual({ code: 'INTERRUPTED', step: 'export', message: `interrupted by ${signal} during step export` });
    expect(listOpenRuns(stateDir)).toEqual([]);
    expect(existsSync(join(stateDir, 'journal', 'sig-run.jsonl.done'))).toBe(true);
  });

  it('a second SIGINT during a hanging cleanup forces exit and leaves the journal for cleanup', async () => {
    const { child, stateDir } = start('hang');
    await child.waitForLine('ready');
    child.process.kill('SIGINT');
    await child.waitForLine('releasing');
    child.process.kill('SIGINT');
    const result = await child.exited;
    expect(result.code).toBe(99);
    expect(result.stdout).toContain('forced by SIGINT');
    const [run] = listOpenRuns(stateDir);
    expect(run).toMatchObject({ runId: 'sig-run', pidAlive: false, ended: undefined });
    expect(run!.outstanding).toEqual([
      expect.objectContaining({ kind: 'snapshot', resource: { snapshot: 'vcb-1' }, releaseInterrupted: true }),
    ]);
  });

  it('cleanup still running when the grace period ends forces exit', async () => {
    const { child, stateDir } = start('hang', 200);
    await child.waitForLine('ready');
    child.process.kill('SIGTERM');
    const result = await child.exited;
    expect(result.code).toBe(98);
    expect(result.stdout).toContain('forced by grace-expired');
    expect(listOpenRuns(stateDir)[0]!.outstanding.map((o) => o.kind)).toEqual(['snapshot']);
  });
});
