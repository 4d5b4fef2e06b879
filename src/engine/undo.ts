// The stack of "how to give it back" for everything a run has acquired, unwound in reverse.

import pTimeout from 'p-timeout';
import { VcbError } from '../errors.js';
import { errorMessage, type CleanupFailure } from './cleanup-errors.js';

export interface ReleaseContext {
  /** Aborted when this release's share of the deadline runs out; stop waiting on the host then. */
  signal: AbortSignal;
  /** Epoch ms by which this release must have settled. */
  deadline: number;
}

export interface UndoSpec {
  /** Short stable word: 'lock', 'quiesce', 'snapshot', 'export-dir', 'mount'... */
  kind: string;
  /** Human text naming the resource, used in logs and error messages. */
  description: string;
  /** Ids and paths identifying the resource, written to the journal: never secrets. */
  resource: Record<string, unknown>;
  /**
   * Gives the resource back. Must be idempotent and must cope with the resource never having
   * been acquired (it is registered *before* the acquire is attempted), and should honour
   * ctx.signal. It may say what it found ('absent': there was nothing to give back).
   */
  release: (ctx: ReleaseContext) => Promise<ReleaseOutcome | void>;
}

/** What a release found: the resource was there and is given back, or it was not there at all. */
export type ReleaseOutcome = 'released' | 'absent';

export interface UndoEntry extends Omit<UndoSpec, 'release'> {
  /** Id the journal gave this acquire (or a local counter without a journal). */
  readonly id: string;
  /** Why its last release failed, while it is still held. */
  lastError?: string;
}

/** Where an UndoStack records acquires and releases before they happen (Journal implements it). */
export interface UndoRecorder {
  /** Records an acquire about to happen; returns its id. Throws if it cannot be recorded. */
  acquire(kind: string, resource: Record<string, unknown>, description: string): string;
  /** Records what the run learnt about a held resource (merged into its resource fields). Throws if it cannot be recorded. */
  update(id: string, fields: Record<string, unknown>): void;
  releaseStarted(id: string): void;
  releaseDone(id: string): void;
  releaseFailed(id: string, error: unknown): void;
  /** The resource is intentionally kept (no longer outstanding). */
  kept(id: string): void;
}

export interface UndoHandle {
  readonly entry: UndoEntry;
  /** Still held: neither released nor kept. */
  readonly held: boolean;
  /**
   * Runs this release now (bounded by timeoutMs, default 60 s) and drops it from the stack once it
   * succeeds. On failure it rethrows and the entry stays on the stack, so the final unwind tries
   * again. Calling it again after success does nothing.
   */
  releaseNow(opts?: { timeoutMs?: number }): Promise<ReleaseOutcome>;
  /** Records facts learnt after the acquire (e.g. the snapshot was created) in the journal and in entry.resource. */
  update(fields: Record<string, unknown>): void;
  /** Keeps the resource on purpose (e.g. the finished export directory): drops it without releasing. */
  forget(): void;
}

export interface UnwindResult {
  /** Given back, in release order (including the ones that turned out to be gone already). */
  released: UndoEntry[];
  /** Of those, the ones there was nothing to give back for. */
  absent: UndoEntry[];
  failed: Array<CleanupFailure & { entry: UndoEntry }>;
}

interface Slot {
  spec: UndoSpec;
  entry: UndoEntry;
  state: 'held' | 'releasing' | 'done';
  inFlight?: Promise<ReleaseOutcome>;
  outcome?: ReleaseOutcome;
}

const DEFAULT_RELEASE_NOW_MS = 60_000;

/**
 * Rules: push() before acquiring; it records the acquire (when a recorder is given) and throws if
 * that fails, so nothing is acquired unrecorded. Release records are best effort: if the journal
 * cannot be written then, the release still runs (the resource merely stays listed as
 * outstanding, and releases are idempotent). Entries pushed while an unwind runs are released by
 * a later unwind.
 */
export class UndoStack {
  private readonly slots: Slot[] = [];
  private counter = 0;

  constructor(private readonly recorder?: UndoRecorder) {}

  /** Registers a release (call before acquiring); see UndoHandle for early release and keeping. */
  push(spec: UndoSpec): UndoHandle {
    const id = this.recorder
      ? this.recorder.acquire(spec.kind, spec.resource, spec.description)
      : String(++this.counter);
    return this.hold(spec, id);
  }

  /**
   * Takes over a resource an earlier run recorded (its acquire is already in a journal under `id`), so
   * that recovery releases it with the same bound and records as a live unwind.
   */
  adopt(spec: UndoSpec, id: string): UndoHandle {
    return this.hold(spec, id);
  }

  private hold(spec: UndoSpec, id: string): UndoHandle {
    // The entry shares spec.resource, so a release reads what update() recorded after the acquire.
    const entry: UndoEntry = { id, kind: spec.kind, description: spec.description, resource: spec.resource };
    const slot: Slot = { spec, entry, state: 'held' };
    this.slots.push(slot);
    return {
      entry,
      get held() {
        return slot.state !== 'done';
      },
      releaseNow: async (opts) => {
        if (slot.state === 'done') return slot.outcome ?? 'released';
        if (slot.state === 'releasing' && slot.inFlight) return slot.inFlight;
        const timeoutMs = opts?.timeoutMs ?? DEFAULT_RELEASE_NOW_MS;
        return this.releaseSlot(slot, Date.now() + timeoutMs);
      },
      update: (fields) => {
        this.recorder?.update(entry.id, fields);
        Object.assign(entry.resource, fields);
      },
      forget: () => {
        if (slot.state !== 'held') return;
        slot.state = 'done';
        this.remove(slot);
        this.record((r) => r.kept(entry.id));
      },
    };
  }

  /**
   * Hands the held resources `which` picks over to another process that now owns them (the -t file disk server): they
   * leave this stack without a release or a keep, so the journal still lists them as outstanding, under
   * that process's pid (recorded by the caller). Returns them, oldest first.
   */
  handOver(which: (entry: UndoEntry) => boolean): UndoEntry[] {
    const held = this.slots.filter((s) => s.state === 'held' && which(s.entry));
    for (const slot of held) {
      slot.state = 'done';
      this.remove(slot);
    }
    return held.map((s) => s.entry);
  }

  /** Entries still held, oldest first. */
  get pending(): UndoEntry[] {
    return this.slots.filter((s) => s.state !== 'done').map((s) => s.entry);
  }

  /**
   * Releases what is left in reverse push order. Never throws and never stops on an error: every
   * failure is collected. The whole unwind is bounded by timeoutMs: each release gets an equal
   * share of the time still left (unused time passes on), and is aborted and abandoned, reported
   * as a CLEANUP timeout, when its share runs out.
   */
  async unwind(opts: { timeoutMs: number }): Promise<UnwindResult> {
    const overallDeadline = Date.now() + opts.timeoutMs;
    const order = [...this.slots].reverse();
    const result: UnwindResult = { released: [], absent: [], failed: [] };
    for (let i = 0; i < order.length; i++) {
      const slot = order[i]!;
      if (slot.state === 'done') continue;
      const left = order.length - i;
      const share = Math.max(0, overallDeadline - Date.now()) / left;
      try {
        const outcome =
          slot.state === 'releasing' && slot.inFlight
            ? await withDeadline(slot.inFlight, Date.now() + share, slot.entry, new AbortController())
            : await this.releaseSlot(slot, Date.now() + share);
        result.released.push(slot.entry);
        if (outcome === 'absent') result.absent.push(slot.entry);
      } catch (error) {
        slot.entry.lastError = errorMessage(error);
        result.failed.push({ entry: slot.entry, error });
      }
    }
    return result;
  }

  private async releaseSlot(slot: Slot, deadline: number): Promise<ReleaseOutcome> {
    slot.state = 'releasing';
    this.record((r) => r.releaseStarted(slot.entry.id));
    const controller = new AbortController();
    const attempt = withDeadline(
      Promise.resolve().then(async () => (await slot.spec.release({ signal: controller.signal, deadline })) ?? 'released'),
      deadline,
      slot.entry,
      controller,
    );
    slot.inFlight = attempt;
    try {
      slot.outcome = await attempt;
    } catch (error) {
      slot.state = 'held';
      slot.inFlight = undefined;
      slot.entry.lastError = errorMessage(error);
      this.record((r) => r.releaseFailed(slot.entry.id, error));
      throw error;
    }
    slot.state = 'done';
    slot.inFlight = undefined;
    this.remove(slot);
    this.record((r) => r.releaseDone(slot.entry.id));
    return slot.outcome;
  }

  /** Release-side records are best effort: a journal that cannot be written must not stop a release. */
  private record(write: (recorder: UndoRecorder) => void): void {
    if (!this.recorder) return;
    try {
      write(this.recorder);
    } catch {
      return;
    }
  }

  private remove(slot: Slot): void {
    const index = this.slots.indexOf(slot);
    if (index >= 0) this.slots.splice(index, 1);
  }
}

/** A release that ran out of time: CLEANUP, naming the entry, so that a later release of the same entry can be told apart. */
export class ReleaseAbandonedError extends VcbError {
  constructor(
    readonly entryId: string,
    message: string,
  ) {
    super('CLEANUP', message, { step: 'cleanup' });
  }
}

/** Settles with `work`, or rejects with a CLEANUP timeout at `deadline` (aborting `controller`). */
function withDeadline<T>(work: Promise<T>, deadline: number, entry: UndoEntry, controller: AbortController): Promise<T> {
  const ms = Math.max(0, deadline - Date.now());
  const normalized = work.catch((error: unknown) => {
    throw error instanceof Error ? error : new Error(errorMessage(error));
  });
  return pTimeout(normalized, {
    milliseconds: ms,
    fallback: () => {
      const error = new ReleaseAbandonedError(entry.id, `${entry.description}: release abandoned: no answer within ${Math.round(ms)} ms`);
      controller.abort(error);
      throw error;
    },
  });
}
