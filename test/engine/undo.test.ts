// UndoStack: reverse order, errors collected, releaseNow/forget, per-release deadline share.

import { describe, expect, it } from 'vitest';
import { UndoStack, withCleanupErrors, type UndoSpec } from '../../src/engine/index.js';
import { VcbError } from '../../src/errors.js';

function spec(name: string, log: string[], release?: UndoSpec['release']): UndoSpec {
  return {
    kind: 'test',
    description: name,
    resource: { name },
    release: release ?? (async () => void log.push(name)),
  };
}

describe('UndoStack', () => {
  it('releases in reverse push order', async () => {
    const log: string[] = [];
    const undo = new UndoStack();
    for (const n of ['lock', 'quiesce', 'snapshot', 'mount']) undo.push(spec(n, log));
    const result = await undo.unwind({ timeoutMs: 5_000 });
    expect(log).toEqual(['mount', 'snapshot', 'quiesce', 'lock']);
    expect(result.released.map((e) => e.description)).toEqual(['mount', 'snapshot', 'quiesce', 'lock']);
    expect(result.failed).toEqual([]);
    expect(undo.pending).toEqual([]);
  });

  it('a failing release does not stop the others and every failure is reported', async () => {
    const log: string[] = [];
    const undo = new UndoStack();
    undo.push(spec('lock', log));
    undo.push(spec('snapshot', log, async () => {
      throw new Error('snapshot.remove: host said no');
    }));
    undo.push(spec('mount', log, () => Promise.reject(new Error('umount busy'))));
    undo.push(spec('tmpdir', log));
    const result = await undo.unwind({ timeoutMs: 5_000 });
    expect(log).toEqual(['tmpdir', 'lock']);
    expect(result.failed.map((f) => [f.entry.description, (f.error as Error).message])).toEqual([
      ['mount', 'umount busy'],
      ['snapshot', 'snapshot.remove: host said no'],
    ]);
    expect(undo.pending.map((e) => e.description)).toEqual(['snapshot', 'mount']);
  });

  it('a release that throws synchronously is still contained', async () => {
    const undo = new UndoStack();
    undo.push(spec('bad', [], () => {
      throw new Error('sync throw');
    }));
    const result = await undo.unwind({ timeoutMs: 1_000 });
    expect(result.failed.map((f) => (f.error as Error).message)).toEqual(['sync throw']);
  });

  it('releaseNow runs one release early and drops it; forget keeps the resource', async () => {
    const log: string[] = [];
    const undo = new UndoStack();
    undo.push(spec('lock', log));
    const exportDir = undo.push(spec('export-dir', log));
    const snapshot = undo.push(spec('snapshot', log));
    undo.push(spec('mount', log));
    await snapshot.releaseNow();
    await snapshot.releaseNow();
    expect(log).toEqual(['snapshot']);
    exportDir.forget();
    expect(undo.pending.map((e) => e.description)).toEqual(['lock', 'mount']);
    await undo.unwind({ timeoutMs: 1_000 });
    expect(log).toEqual(['snapshot', 'mount', 'lock']);
  });

  it('a failed releaseNow rethrows and leaves the entry for the unwind to retry', async () => {
    let attempts = 0;
    const undo = new UndoStack();
    const handle = undo.push(spec('snapshot', [], async () => {
      attempts++;
      if (attempts === 1) throw new Error('busy');
    }));
    await expect(handle.releaseNow()).rejects.toThrow('busy');
    expect(undo.pending.map((e) => e.description)).toEqual(['snapshot']);
    const result = await undo.unwind({ timeoutMs: 1_000 });
    expect(attempts).toBe(2);
    expect(result.released.map((e) => e.description)).toEqual(['snapshot']);
  });

  it('abandons a hanging release after its share of the deadline, aborts its signal, and goes on', async () => {
    const log: string[] = [];
    let sawAbort = false;
    const undo = new UndoStack();
    undo.push(spec('lock', log));
    undo.push(spec('hung snapshot removal', log, (ctx) =>
      new Promise<void>(() => {
        ctx.signal.addEventListener('abort', () => (sawAbort = true));
      }),
    ));
    const result = await undo.unwind({ timeoutMs: 100 });
    expect(log).toEqual(['lock']);
    expect(sawAbort).toBe(true);
    expect(result.failed).toHaveLength(1);
    const error = result.failed[0]!.error as VcbError;
    expect(error).toBeInstanceOf(VcbError);
    expect(error.code).toBe('CLEANUP');
    expect(error.message).toMatch(/^hung snapshot removal: release abandoned: no answer within \d+ ms$/);
  });

  it('gives each release a deadline within the overall bound, later ones inheriting unused time', async () => {
    const deadlines: number[] = [];
    const undo = new UndoStack();
    for (const n of ['a', 'b', 'c']) undo.push(spec(n, [], async (ctx) => void deadlines.push(ctx.deadline)));
    await undo.unwind({ timeoutMs: 30_000 });
    const after = Date.now();
    expect(deadlines[0]!).toBeLessThanOrEqual(after + 10_000);
    expect(deadlines[2]!).toBeGreaterThan(deadlines[0]!);
    expect(deadlines[2]!).toBeLessThanOrEqual(after + 30_000);
  });
});

describe('withCleanupErrors', () => {
  it('leads with the original error, keeps its code and context, and lists cleanup failures', () => {
    const original = new VcbError('EXPORT', 'export: read failed at extent 3', { vm: 'web01', step: 'export' });
    const cleanup = new Error('vim-cmd vmsvc/snapshot.remove 12: timed out');
    const combined = withCleanupErrors(original, [{ entry: { kind: 'snapshot', description: 'snapshot vcb-1 of web01' }, error: cleanup }]) as VcbError;
    expect(combined.code).toBe('EXPORT');
    expect(combined.context).toEqual({ vm: 'web01', step: 'export' });
    expect(combined.message).toBe(
      'export: read failed at extent 3 (cleanup also failed: snapshot vcb-1 of web01: vim-cmd vmsvc/snapshot.remove 12: timed out)',
    );
    const cause = combined.cause as AggregateError;
    expect(cause).toBeInstanceOf(AggregateError);
    expect(cause.errors).toEqual([original, cleanup]);
  });

  it('returns the original itself when cleanup had no failures', () => {
    const original = new Error('boom');
    expect(withCleanupErrors(original, [])).toBe(original);
  });

  it('wraps a plain error as INTERNAL, message still first', () => {
    const combined = withCleanupErrors(new TypeError('x is undefined'), [
      { entry: { kind: 'lock', description: 'lock' }, error: 'EACCES' },
    ]) as VcbError;
    expect(combined.code).toBe('INTERNAL');
    expect(combined.message.startsWith('x is undefined (cleanup also failed: lock: EACCES')).toBe(true);
  });
});

describe('UndoStack with a journal that stops accepting writes', () => {
  it('refuses to push (nothing acquired unrecorded) but still runs releases', async () => {
    let writable = true;
    const records: string[] = [];
    const recorder = {
      acquire: (_kind: string, _resource: Record<string, unknown>, description: string) => {
        if (!writable) throw new Error('ENOSPC');
        records.push(`acquire ${description}`);
        return description;
      },
      releaseStarted: () => {
        if (!writable) throw new Error('ENOSPC');
      },
      releaseDone: () => {
        if (!writable) throw new Error('ENOSPC');
      },
      releaseFailed: () => {},
      kept: () => {},
    };
    const log: string[] = [];
    const undo = new UndoStack(recorder);
    undo.push(spec('snapshot', log));
    writable = false;
    expect(() => undo.push(spec('mount', log))).toThrow('ENOSPC');
    const result = await undo.unwind({ timeoutMs: 1_000 });
    expect(log).toEqual(['snapshot']);
    expect(result.released.map((e) => e.description)).toEqual(['snapshot']);
    expect(records).toEqual(['acquire snapshot']);
  });
});
