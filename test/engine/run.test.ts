// runSteps: order, step-tagged errors, unwinding on success/failure/abort, cleanup errors after the original.

import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describePlan, Journal, listOpenRuns, runSteps, UndoStack, type EngineLog, type RunContext, type Step, type StepEvent } from '../../src/engine/index.js';
import { VcbError } from '../../src/errors.js';

interface Recorded extends EngineLog {
  warnings: string[];
}

function recordingLog(): Recorded {
  const warnings: string[] = [];
  return { warnings, info() {}, error() {}, warn: (_obj, msg) => void warnings.push(msg ?? '') };
}

function context(overrides: Partial<RunContext> = {}): RunContext & { log: Recorded } {
  return { signal: new AbortController().signal, undo: new UndoStack(), log: recordingLog(), ...overrides } as RunContext & { log: Recorded };
}

function acquiring(name: string, trail: string[], opts: { fail?: unknown; releaseError?: Error; keep?: boolean } = {}): Step {
  return {
    name,
    description: `acquire ${name}`,
    run: async (ctx) => {
      const handle = ctx.undo.push({
        kind: name,
        description: name,
        resource: { name },
        release: async () => {
          trail.push(`release ${name}`);
          if (opts.releaseError) throw opts.releaseError;
        },
      });
      trail.push(`run ${name}`);
      if (opts.keep) handle.forget();
      if (opts.fail !== undefined) throw opts.fail;
    },
  };
}

async function failureOf(promise: Promise<unknown>): Promise<VcbError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(VcbError);
    return error as VcbError;
  }
  throw new Error('expected runSteps to throw');
}

describe('runSteps', () => {
  it('runs steps in order, reports each, and releases everything not kept at the end', async () => {
    const trail: string[] = [];
    const events: string[] = [];
    const ctx = context({ onStep: (e: StepEvent) => events.push(`${e.type} ${e.step}`) });
    const summary = await runSteps([acquiring('lock', trail), acquiring('export-dir', trail, { keep: true }), acquiring('snapshot', trail)], ctx);
    expect(trail).toEqual(['run lock', 'run export-dir', 'run snapshot', 'release snapshot', 'release lock']);
    expect(summary.completed).toEqual(['lock', 'export-dir', 'snapshot']);
    expect(summary.released.map((e) => e.kind)).toEqual(['snapshot', 'lock']);
    expect(events).toEqual(['start lock', 'done lock', 'start export-dir', 'done export-dir', 'start snapshot', 'done snapshot']);
  });

  it('tags a plain error with the step and its error code, stops, and unwinds', async () => {
    const trail: string[] = [];
    const failing: Step = { ...acquiring('export', trail, { fail: new Error('EIO reading extent 3') }), errorCode: 'EXPORT' };
    const error = await failureOf(runSteps([acquiring('snapshot', trail), failing, acquiring('never', trail)], context({ vm: 'web01' })));
    expect(error.code).toBe('EXPORT');
    expect(error.context).toEqual({ vm: 'web01', step: 'export' });
    expect(error.message).toBe('export: EIO reading extent 3');
    expect((error.cause as Error).message).toBe('EIO reading extent 3');
    expect(trail).toEqual(['run snapshot', 'run export', 'release export', 'release snapshot']);
  });

  it('keeps a VcbError as is, adding the step, and puts cleanup failures after it', async () => {
    const trail: string[] = [];
    const original = new VcbError('SNAPSHOT', 'snapshot.create failed: disk full');
    const ctx = context();
    const error = await failureOf(
      runSteps(
        [
          acquiring('lock', trail, { releaseError: new Error('EACCES unlinking lock') }),
          acquiring('snapshot', trail, { fail: original }),
        ],
        ctx,
      ),
    );
    expect(error.code).toBe('SNAPSHOT');
    expect(error.context.step).toBe('snapshot');
    expect(error.message).toBe('snapshot.create failed: disk full (cleanup also failed: lock: EACCES unlinking lock)');
    expect((error.cause as AggregateError).errors[0]).toBe(original);
    expect(trail).toEqual(['run lock', 'run snapshot', 'release snapshot', 'release lock']);
    expect(ctx.log.warnings).toEqual(['cleanup failed: lock']);
  });

  it('reports CLEANUP when every step succeeded but a release failed', async () => {
    const trail: string[] = [];
    const error = await failureOf(
      runSteps([acquiring('snapshot', trail, { releaseError: new Error('snapshot.remove: timed out') })], context({ vm: 'web01' })),
    );
    expect(error.code).toBe('CLEANUP');
    expect(error.context).toEqual({ vm: 'web01', step: 'cleanup' });
    expect(error.message).toContain('snapshot: snapshot.remove: timed out');
    expect(error.message).toContain('vcbmounter cleanup');
  });

  it('stops between steps once the signal is aborted, unwinds, and reports INTERRUPTED', async () => {
    const trail: string[] = [];
    const controller = new AbortController();
    const interruptAfterFirst: Step = {
      ...acquiring('quiesce', trail),
      run: async (ctx) => {
        await acquiring('quiesce', trail).run(ctx);
        controller.abort(new VcbError('INTERRUPTED', 'interrupted by SIGTERM'));
      },
    };
    const error = await failureOf(runSteps([interruptAfterFirst, acquiring('snapshot', trail)], context({ signal: controller.signal })));
    expect(error.code).toBe('INTERRUPTED');
    expect(error.context.step).toBe('snapshot');
    expect(error.message).toBe('interrupted by SIGTERM before step snapshot');
    expect(trail).toEqual(['run quiesce', 'release quiesce']);
  });

  it('ends the journal with the status; a clean run leaves no open run behind', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'vcb-run-'));
    const okJournal = Journal.open({ stateDir, host: 'esx1', vm: 'web01', runId: 'ok-run' });
    await runSteps([acquiring('lock', [])], context({ undo: new UndoStack(okJournal), journal: okJournal }));
    const badJournal = Journal.open({ stateDir, host: 'esx1', vm: 'db01', runId: 'bad-run' });
    await failureOf(
      runSteps(
        [acquiring('snapshot', [], { releaseError: new Error('host gone') }), acquiring('export', [], { fail: new Error('x') })],
        context({ undo: new UndoStack(badJournal), journal: badJournal }),
      ),
    );
    expect(readdirSync(join(stateDir, 'journal')).sort()).toEqual(['bad-run.jsonl', 'ok-run.jsonl.done']);
    const [open] = listOpenRuns(stateDir);
    expect(open).toMatchObject({ runId: 'bad-run', ended: { status: 'failed' } });
    expect(open!.outstanding.map((o) => [o.kind, o.lastError])).toEqual([['snapshot', 'host gone']]);
  });
});

describe('a release a step makes itself (releaseNow) that gives up', () => {
  /** A step that acquires a resource whose first release hangs, then releases it itself within 50 ms. */
  function releasingItself(trail: string[], opts: { laterReleases: 'succeed' | 'fail' }): Step {
    let attempts = 0;
    return {
      name: 'remove',
      description: 'remove the drill VM',
      run: async (ctx) => {
        const handle = ctx.undo.push({
          kind: 'vm',
          description: 'the drill VM',
          resource: {},
          release: async () => {
            attempts++;
            trail.push(`release attempt ${attempts}`);
            if (attempts === 1) await new Promise<never>(() => {});
            if (opts.laterReleases === 'fail') throw new Error('host refused');
          },
        });
        await handle.releaseNow({ timeoutMs: 50 });
      },
    };
  }

  it('is the step\'s failure, and not exit 8\'s CLEANUP, when the final unwind then releases it: the message says nothing is left', async () => {
    const trail: string[] = [];
    const error = await failureOf(runSteps([releasingItself(trail, { laterReleases: 'succeed' })], context({ vm: 'web' })));
    expect(trail).toEqual(['release attempt 1', 'release attempt 2']);
    expect(error.code).toBe('HOST_COMMAND');
    expect(error.context).toMatchObject({ step: 'remove', vm: 'web' });
    expect(error.message).toMatch(/^the drill VM: release abandoned: no answer within \d+ ms; the release was tried again at the end of the run and succeeded: nothing is left$/);
  });

  it('leaves any other CLEANUP failure of a step as it is, though nothing of this run is held (an earlier run\'s leftovers it could not release)', async () => {
    const recover: Step = {
      name: 'recover',
      description: 'release what an earlier run left',
      run: async () => {
        throw new VcbError('CLEANUP', 'the snapshot of an earlier run may still be on the host');
      },
    };
    const error = await failureOf(runSteps([recover], context()));
    expect(error.code).toBe('CLEANUP');
    expect(error.context.step).toBe('recover');
    expect(error.message).toBe('the snapshot of an earlier run may still be on the host');
  });

  it('stays CLEANUP, named after the step, when the final unwind cannot release it either', async () => {
    const trail: string[] = [];
    const error = await failureOf(runSteps([releasingItself(trail, { laterReleases: 'fail' })], context()));
    expect(trail).toEqual(['release attempt 1', 'release attempt 2']);
    expect(error.code).toBe('CLEANUP');
    expect(error.context.step).toBe('remove');
    expect(error.message).toContain('release abandoned');
    expect(error.message).toContain('host refused');
  });
});

describe('describePlan', () => {
  it('lists the steps without running them', () => {
    const trail: string[] = [];
    expect(describePlan([acquiring('lock', trail), acquiring('snapshot', trail)])).toEqual(['1. lock: acquire lock', '2. snapshot: acquire snapshot']);
    expect(trail).toEqual([]);
  });
});

describe('a step that ignores the abort', () => {
  it('is abandoned after the grace period so the unwind still releases what was acquired', async () => {
    const trail: string[] = [];
    const controller = new AbortController();
    const stuck: Step = {
      name: 'stuck',
      description: 'a call that never returns and never looks at the signal',
      run: () => new Promise<void>(() => {}),
    };
    const run = runSteps([acquiring('snapshot', trail), stuck], context({ signal: controller.signal, abandonAfterMs: 50 }));
    setTimeout(() => controller.abort(new VcbError('INTERRUPTED', 'interrupted by SIGINT')), 20);
    const error = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(VcbError);
    expect((error as VcbError).code).toBe('INTERRUPTED');
    expect((error as VcbError).context.step).toBe('stuck');
    expect(trail).toEqual(['run snapshot', 'release snapshot']);
  });
});
