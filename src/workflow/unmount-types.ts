// What -U is given and what it reports, whichever kind of run made the directory.

import type { Logger } from '../log.js';
import type { ReleaseEnv } from '../resources/index.js';

export interface UnmountReport {
  dir: string;
  removed: string[];
  nothingToDo: boolean;
}

export interface UnmountEnv {
  log: Logger;
  /** The state directory's path (not created): whose runs are still open, to leave theirs alone and record releases. */
  stateDir: string;
  /** Reaches the host, when -U was given -h: a snapshot the run still holds is then removed too. */
  host?: ReleaseEnv['host'];
  hostFlags?: string;
  cleanupTimeoutMs: number;
}
