// What releasing a resource needs and returns, whoever releases it: the live unwind, cleanup, recovery or -U.

import type { ReleaseOutcome } from '../engine/index.js';
import type { Logger } from '../log.js';
import type { HostSession } from '../esx/index.js';

export type ResourceKind = 'vm-lock' | 'snapshot' | 'partial-dir' | 'replaced-dir' | 'export-dir' | 'mount-dir' | 'disk-server' | 'fuse-disk' | 'loop-device' | 'volume-mount' | 'powered-off-vm' | 'restore-dir' | 'registered-vm' | 'replaced-vm';

export interface ReleaseEnv {
  log: Logger;
  /** Aborted when this release's share of the cleanup bound runs out. */
  signal: AbortSignal;
  /** Epoch ms by which the release must have settled. */
  deadline: number;
  /**
   * The host session, opened on first use and reconnected when it dropped; absent where this caller
   * cannot reach the host (-U without -h): a release that needs the host then fails with advice.
   */
  host?: () => Promise<HostSession>;
  /** How to name the host in advice ("-h esx01 --port 2222"), when known. */
  hostFlags?: string;
  /** Where a live run collects warnings for its summary and catalog (a release that succeeded with a caveat). */
  warn?: (warning: string) => void;
}

/** One kind of resource: how to read its journaled fields back and how to give it back. */
export interface ResourceType<R> {
  kind: ResourceKind;
  /** Whether releasing it talks to the ESX host (-U without -h cannot). */
  needsHost: boolean;
  /** Checks the fields as written to a journal or state file; throws naming the bad field. */
  parse(fields: Record<string, unknown>): R;
  /** Gives it back; idempotent, and copes with the resource never having been acquired. */
  release(resource: R, env: ReleaseEnv): Promise<ReleaseOutcome>;
}

/** Reads a string field of a journaled resource, or throws naming it. */
export function field(fields: Record<string, unknown>, name: string, kind: string): string {
  const value = fields[name];
  if (typeof value !== 'string' || value === '') throw new Error(`${kind} resource: field ${name} is missing or not a string`);
  return value;
}

/** Milliseconds left until `deadline`, at least 1 (a bound handed to a host command must be positive). */
export function msLeft(deadline: number): number {
  return Math.max(1, deadline - Date.now());
}
