// The engine's public surface: undo stack, journal, VM lock, signal handling and the step runner.

export { UndoStack, type UndoSpec, type UndoEntry, type UndoHandle, type UndoRecorder, type ReleaseContext, type ReleaseOutcome, type UnwindResult } from './undo.js';
export { DeferredJournal } from './deferred-journal.js';
export { withCleanupErrors, cleanupOnlyError, describeCleanupFailures, leftBehindAdvice, type CleanupFailure } from './cleanup-errors.js';
export { Journal, isRunClosed, listOpenRuns, markRecovered, readRecords, newRunId, type JournalRecord, type OpenRun, type OutstandingResource, type RunStatus } from './journal.js';
export { lockVm, acquireVmLock, releaseVmLock, readVmLock, breakVmLock, lockPath, type LockInfo, type LockOptions, type VmLock } from './lock.js';
export { installSignalHandlers, signalExitCode, INTERRUPT_MESSAGE, type HandledSignal, type SignalHandlers, type SignalHandlerOptions } from './signals.js';
export { runSteps, describePlan, type Step, type StepEvent, type RunContext, type RunSummary, type EngineLog } from './run.js';
export { resolveStateDir, stateDirPath, ensurePrivateDir } from './state-dir.js';
export { isProcessAlive } from './process-alive.js';
export { safeKey } from './vm-key.js';
