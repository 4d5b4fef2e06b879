// Public surface of the snapshot disk readers.

export * from './types.js';
export { NbdReader, type NbdReaderOptions } from './nbd-reader.js';
export { SessionReader, type SessionReaderOptions } from './session-reader.js';
export { SanReader, type LunIo, type LunMap, type SanReaderOptions } from './san-reader.js';
export { applyDeltaOverlay, deltaFormatName, deltaProblem, fetchFileByCat, fetchFileWithReader, type WriteAt } from './overlay.js';
export { planDdReads, ddBatchLine, type DdRead } from './dd-plan.js';
export { clipBlockMap } from './clip-block-map.js';
export { SnapshotDiskView, type DiskViewStats, type SnapshotDiskViewOptions } from './disk-view.js';
