// A journal opened at a run's first acquire: the steps before it (connect, resolve) hold nothing, and the VM it is about is known by then.

import { Journal, type RunStatus } from './journal.js';
import type { UndoRecorder } from './undo.js';

export class DeferredJournal implements UndoRecorder {
  private journal: Journal | undefined;

  constructor(private readonly open: () => Journal) {}

  /** The journal, once something was acquired. */
  get opened(): Journal | undefined {
    return this.journal;
  }

  acquire(kind: string, resource: Record<string, unknown>, description: string): string {
    this.journal ??= this.open();
    return this.journal.acquire(kind, resource, description);
  }

  update(id: string, fields: Record<string, unknown>): void {
    this.journal?.update(id, fields);
  }

  releaseStarted(id: string): void {
    this.journal?.releaseStarted(id);
  }

  releaseDone(id: string): void {
    this.journal?.releaseDone(id);
  }

  releaseFailed(id: string, error: unknown): void {
    this.journal?.releaseFailed(id, error);
  }

  kept(id: string): void {
    this.journal?.kept(id);
  }

  end(status: RunStatus): void {
    this.journal?.end(status);
  }
}
