// What the soak run does in each cycle (VM, fault or signal, flags) and which exit codes that cause allows; a pure function of the seed.

import { mixSeed, Prng } from './prng.js';

/** One VM of the soak host: its inventory entry and what the plan needs to know about it. */
export interface SoakVm {
  name: string;
  /** The inventory entry (src/sim/inventory.ts schema). */
  spec: Record<string, unknown>;
  /** Has user snapshots: the export reads their deltas with cat. */
  userSnapshots: boolean;
  /** Powered on with VMware Tools running and freeze scripts: the snapshot is quiesced through them. */
  quiesceScripts: boolean;
  /** Several disks: the export runs at least two dd commands. */
  severalDisks: boolean;
  /** Extra backup flags, always given for this VM. */
  flags: string[];
}

/** Guests write often enough that every backup races real writes, but into a small region so deltas stay small. */
const BUSY_GUEST = { writesPerSecond: 40, writeSize: 4096, flushIntervalMs: 50, region: '4M' };

/** Small disks (a cycle takes about a second) covering the shapes a backup meets: quiesce scripts, user snapshots, thick disks, split extents, power off. */
export const SOAK_VMS: readonly SoakVm[] = [
  {
    name: 'web',
    spec: {
      name: 'web',
      disks: [
        { size: '16M', fillBytes: '4M' },
        { size: '8M', fillBytes: '2M' },
      ],
      guest: { ...BUSY_GUEST, seed: 101 },
      quiesce: {
        preFreeze: { exitCode: 0 },
        backupScripts: [{ name: '10-db-flush' }, { name: '20-app-pause' }],
        postThaw: { exitCode: 0 },
      },
    },
    userSnapshots: false,
    quiesceScripts: true,
    severalDisks: true,
    flags: [],
  },
  {
    name: 'db',
    spec: {
      name: 'db',
      disks: [{ size: '24M', fillBytes: '6M' }],
      guest: { ...BUSY_GUEST, seed: 202 },
      snapshots: [{ name: 'before-upgrade', description: 'taken by the admin' }],
    },
    userSnapshots: true,
    quiesceScripts: false,
    severalDisks: false,
    flags: [],
  },
  {
    name: 'app',
    spec: {
      name: 'app',
      disks: [{ size: '16M', thin: false, fillBytes: '4M' }],
      guest: { ...BUSY_GUEST, writesPerSecond: 20, seed: 303 },
      snapshots: [
        { name: 'base', description: '' },
        { name: 'patched', description: 'after the patch' },
      ],
    },
    userSnapshots: true,
    quiesceScripts: false,
    severalDisks: false,
    flags: ['-M', '0'],
  },
  {
    name: 'cold',
    spec: { name: 'cold', power: 'off', disks: [{ size: '8M', fillBytes: '2M' }] },
    userSnapshots: false,
    quiesceScripts: false,
    severalDisks: false,
    flags: [],
  },
];

export const DATASTORE = { name: 'ds1', capacity: '512M' };

/** The inventory of the soak host (one datastore, the VMs above). */
export function soakInventory(): Record<string, unknown> {
  return { host: { kind: 'esxi', hostname: 'esx-soak.local' }, datastores: [DATASTORE], vms: SOAK_VMS.map((v) => v.spec), seed: 7 };
}

export type FaultAction = 'fail' | 'hang' | 'drop' | 'fill' | 'late';

/**
 * A host command a backup runs, as a fault rule finds it. `armAfter` delays the rule until a command matching it
 * has run (the listing after the create, the listing before the removal): counting matches from the start of the
 * run would hit another listing whenever the backup's command order changes.
 */
export interface Target {
  id: string;
  what: string;
  match: string;
  nth: number;
  armAfter?: string;
  appliesTo?: (vm: SoakVm) => boolean;
}

const LIST = '^vim-cmd vmsvc/snapshot\\.get ';

export const TARGETS: readonly Target[] = [
  { id: 'resolve', what: 'get.summary while resolving the VM', match: '^vim-cmd vmsvc/get\\.summary ', nth: 1 },
  { id: 'vmx', what: 'cat of the .vmx while inspecting', match: '^cat \\S+\\.vmx$', nth: 1 },
  { id: 'descriptor', what: 'cat of a disk descriptor while inspecting', match: '^cat (?!\\S*-delta\\.vmdk$)\\S+\\.vmdk$', nth: 1 },
  { id: 'list', what: 'the snapshot listing while inspecting', match: LIST, nth: 1 },
  { id: 'create', what: 'snapshot.create', match: '^vim-cmd vmsvc/snapshot\\.create ', nth: 1 },
  { id: 'list-after-create', what: 'the listing that finds the new snapshot', match: LIST, nth: 1, armAfter: '^vim-cmd vmsvc/snapshot\\.create ' },
  { id: 'blocklist', what: 'vmkfstools -t0', match: '^vmkfstools ', nth: 1 },
  { id: 'version', what: 'vmware -v before the export', match: '^vmware -v', nth: 1 },
  { id: 'ls', what: 'ls of the VM directory before the export', match: '^ls ', nth: 1 },
  { id: 'dd', what: 'the first dd of the export', match: '^dd ', nth: 1 },
  { id: 'dd2', what: 'the second dd of the export', match: '^dd ', nth: 2, appliesTo: (vm) => vm.severalDisks },
  { id: 'delta', what: 'cat of a user snapshot delta', match: '^cat \\S+-delta\\.vmdk$', nth: 1, appliesTo: (vm) => vm.userSnapshots },
  { id: 'vm-file', what: 'cat of the .nvram after the disks', match: '^cat \\S+\\.nvram$', nth: 1 },
  { id: 'list-before-remove', what: 'the listing before the snapshot removal', match: LIST, nth: 1, armAfter: '^dd ' },
  { id: 'remove', what: 'snapshot.remove', match: '^vim-cmd vmsvc/snapshot\\.remove ', nth: 1 },
];

/**
 * Exit codes each injected cause allows (docs/exit-codes.md, docs/usage.md). `always` variants fire on every
 * retry; the others once.
 *
 * - A failed host command ends the run with its step's code: 1 (host command: resolve, inspect, blocklist),
 *   6 (snapshot), 7 (export). `vmware -v` is a host command asked during the export step: 1 or 7.
 *   The listing after the create is a host command inside the snapshot step: 1 or 6.
 * - `ls` of the VM directory failing is only a warning (the .nvram, .vmsd and logs are then not exported): 0.
 * - A dropped connection is reconnected once for the snapshot removal only, so elsewhere it ends the run with
 *   the step's code or 3 (the connection is what failed); the removal is retried and the run succeeds.
 * - A snapshot create that got no answer (dropped, timed out, answered late) is exit 8: the host may still
 *   finish it, the journal keeps it for `vcbmounter cleanup`.
 * - A removal or its listing that fails, hangs or answers late once is retried during cleanup: 0.
 *   One that fails or hangs every time: 8 (the backup is complete, the snapshot is left for cleanup).
 * - A command that hangs is cut off by --command-timeout (--snapshot-timeout for the snapshot commands and the
 *   listing that follows the create) and fails its step as a failed command would; an `ls` that times out may
 *   fail the export (7) where a failed one is only a warning.
 * - A full datastore before the snapshot exists fails the snapshot: 6. Once the snapshot exists, the backup reads
 *   on (the destination is on this machine) and the removal fails for lack of space when committing the delta
 *   needs new blocks (8, the snapshot left to cleanup), or succeeds when it does not (0: the guest wrote only over
 *   allocated blocks, or not at all). By the time the .nvram is read the snapshot is already removed: 0.
 */
const AFTER_CREATE_FILL = [0, 8];

export function expectedExits(action: FaultAction, target: string, always: boolean): number[] | undefined {
  const table: Record<FaultAction, Record<string, number[]>> = {
    fail: {
      resolve: [1], vmx: [1], descriptor: [1], list: [1], create: [6], 'list-after-create': [1, 6], blocklist: [1], version: [1, 7], ls: [0],
      dd: [7], dd2: [7], delta: [7], 'vm-file': [7], 'list-before-remove': [0], remove: always ? [8] : [0],
    },
    drop: {
      resolve: [1, 3], vmx: [1, 3], descriptor: [1, 3], list: [1, 3], create: [8], 'list-after-create': [1, 3, 6], blocklist: [1, 3],
      version: [1, 3, 7], ls: [3, 7], dd: [3, 7], dd2: [3, 7], delta: [3, 7], 'vm-file': [3, 7], 'list-before-remove': [0], remove: [0],
    },
    hang: {
      resolve: [1], vmx: [1], descriptor: [1], list: [1], create: [8], 'list-after-create': [1, 6], blocklist: [1], version: [1, 7], ls: [0, 7],
      dd: [7], dd2: [7], delta: [7], 'vm-file': [7], 'list-before-remove': [0], remove: always ? [8] : [0],
    },
    late: { create: [8], remove: [0], 'list-before-remove': [0] },
    fill: {
      resolve: [6], vmx: [6], descriptor: [6], list: [6], create: [6],
      'list-after-create': AFTER_CREATE_FILL, blocklist: AFTER_CREATE_FILL, version: AFTER_CREATE_FILL, ls: AFTER_CREATE_FILL,
      dd: AFTER_CREATE_FILL, dd2: AFTER_CREATE_FILL, delta: AFTER_CREATE_FILL, 'list-before-remove': AFTER_CREATE_FILL, remove: AFTER_CREATE_FILL,
      'vm-file': [0],
    },
  };
  return table[action][target];
}

/** Targets each action is tried on (those with a documented outcome, see expectedExits). */
function targetsFor(action: FaultAction, vm: SoakVm): Target[] {
  return TARGETS.filter((t) => expectedExits(action, t.id, false) !== undefined && (t.appliesTo?.(vm) ?? true));
}

export type SignalName = 'SIGINT' | 'SIGTERM' | 'SIGKILL';

export interface FaultPlan {
  action: FaultAction;
  target: Target;
  /** Fire on every matching command (remove), not once. */
  always: boolean;
  /** For `late`: how long the host takes to answer (longer than the timeouts given). */
  delayMs?: number;
}

export interface SignalPlan {
  name: SignalName;
  /** Sent once this many host commands of the run have started (0: counted from the spawn), then delayMs later. */
  afterCommands: number;
  delayMs: number;
  /** SIGKILL only: run `vcbmounter cleanup` at once (true) or leave the recovery to the VM's next backup (false). */
  cleanupAfter?: boolean;
}

export interface CyclePlan {
  cycle: number;
  /** Seed of this cycle's own generator (printed with an unexpected outcome). */
  seed: number;
  vm: SoakVm;
  kind: 'none' | 'fault' | 'signal' | 'recover';
  fault?: FaultPlan;
  signal?: SignalPlan;
  /** If the destination exists: replace it with --preexisting-mountpoint delete (else it is removed with -U first). */
  replace: boolean;
  /** Exit codes allowed (signals: codes allowed when the process got to handle the signal). */
  expected: number[];
  /** Backup flags this cycle adds. */
  flags: string[];
}

/** Timeouts for cycles whose fault makes a host command wait: short, so a cycle stays a few seconds long. */
export const SHORT_TIMEOUTS = { snapshotSeconds: 2, commandSeconds: 2, cleanupSeconds: 4 };

/**
 * --snapshot-timeout of every other cycle. A create cut off by a signal or a dropped connection may still finish on
 * the host until twice this long after it started, and cleanup waits that long before it believes "not there":
 * with the default 900 s a soak would wait half an hour after such a cycle.
 */
export const SNAPSHOT_TIMEOUT_SECONDS = 5;

const ACTIONS: ReadonlyArray<[FaultAction, number]> = [
  ['fail', 0.35],
  ['drop', 0.2],
  ['hang', 0.15],
  ['late', 0.2],
  ['fill', 0.1],
];

function weighted<T>(prng: Prng, items: ReadonlyArray<[T, number]>): T {
  let r = prng.next() * items.reduce((s, [, w]) => s + w, 0);
  for (const [item, w] of items) {
    r -= w;
    if (r < 0) return item;
  }
  return items[items.length - 1]![0];
}

/**
 * The whole run's plan. Each cycle draws from its own generator (seeded from the run's seed and the cycle number),
 * so one cycle's choices do not depend on how many numbers another drew. The only state carried between cycles:
 * a VM whose backup was killed with SIGKILL and left for its next backup to recover gets that next backup with
 * no fault and no signal (a fault there would hit the recovery's commands instead of the ones it names), and
 * SIGKILL cycles alternate between an immediate `vcbmounter cleanup` and that next-backup recovery.
 */
export function planCycles(seed: number, cycles: number, vms: readonly SoakVm[] = SOAK_VMS): CyclePlan[] {
  const plans: CyclePlan[] = [];
  const awaitingRecovery = new Set<string>();
  let kills = 0;
  for (let cycle = 1; cycle <= cycles; cycle++) {
    const cycleSeed = mixSeed(seed, cycle);
    const prng = new Prng(cycleSeed);
    const vm = prng.pick(vms);
    const replace = prng.chance(0.3);
    const roll = prng.next();
    const base = { cycle, seed: cycleSeed, vm, replace, flags: [...vm.flags, '--snapshot-timeout', String(SNAPSHOT_TIMEOUT_SECONDS)] };
    if (awaitingRecovery.delete(vm.name)) {
      plans.push({ ...base, kind: 'recover', expected: [0] });
      continue;
    }
    if (roll < 1 / 3) {
      plans.push({ ...base, kind: 'none', expected: [0] });
    } else if (roll < 2 / 3) {
      const action = weighted(prng, ACTIONS);
      const target = prng.pick(targetsFor(action, vm));
      const always = (action === 'fail' || action === 'hang') && target.id === 'remove' && prng.chance(0.4);
      const fault: FaultPlan = { action, target, always };
      let flags = [...base.flags];
      if (action === 'hang' || action === 'late') {
        flags = [
          ...vm.flags,
          '--snapshot-timeout', String(SHORT_TIMEOUTS.snapshotSeconds),
          '--command-timeout', String(SHORT_TIMEOUTS.commandSeconds),
          '--cleanup-timeout', String(SHORT_TIMEOUTS.cleanupSeconds),
        ];
      }
      // Late answers come after the client's longest wait for that command (the cleanup timeout bounds a removal).
      // A create is promised to be caught only if it completes within a second --snapshot-timeout (settleTime in
      // src/resources/snapshot.ts): later than that the host is beyond what vcbmounter waits for.
      if (action === 'late') {
        const wait = (target.id === 'create' ? SHORT_TIMEOUTS.snapshotSeconds : SHORT_TIMEOUTS.cleanupSeconds) * 1000;
        fault.delayMs = wait + (target.id === 'create' ? prng.int(300, wait - 700) : prng.int(500, 2500));
      }
      plans.push({ ...base, flags, kind: 'fault', fault, expected: expectedExits(action, target.id, always)! });
    } else {
      const name = weighted<SignalName>(prng, [
        ['SIGINT', 0.35],
        ['SIGTERM', 0.35],
        ['SIGKILL', 0.3],
      ]);
      const afterCommands = prng.int(0, 14);
      // From the spawn, the window covers node's start-up and the connection; after a command, a few milliseconds.
      const delayMs = afterCommands === 0 ? prng.int(0, 700) : prng.int(0, 80);
      const signal: SignalPlan = { name, afterCommands, delayMs };
      if (name === 'SIGKILL') {
        signal.cleanupAfter = kills++ % 2 === 0;
        if (!signal.cleanupAfter) awaitingRecovery.add(vm.name);
      }
      // A signal after the run finished changes nothing (0); a handled one exits 128 + its number, or 8 when the
      // unwind could not release something (a snapshot create cut off by the signal may still finish on the host).
      const expected = name === 'SIGINT' ? [130, 8, 0] : name === 'SIGTERM' ? [143, 8, 0] : [0];
      plans.push({ ...base, kind: 'signal', signal, expected });
    }
  }
  return plans;
}

/** One line describing a cycle's cause, e.g. `fail on dd (the first dd of the export)` or `SIGKILL after 5 commands +30 ms, then cleanup`. */
export function describeCause(p: CyclePlan): string {
  if (p.kind === 'none') return 'no fault';
  if (p.kind === 'recover') return 'no fault (recovers the SIGKILLed run before it)';
  if (p.kind === 'fault') {
    const f = p.fault!;
    return `${f.action}${f.always ? ' (every time)' : ''} on ${f.target.id}${f.delayMs !== undefined ? ` (answer after ${f.delayMs} ms)` : ''}`;
  }
  const s = p.signal!;
  const when = s.afterCommands === 0 ? `${s.delayMs} ms after spawn` : `after ${s.afterCommands} host commands +${s.delayMs} ms`;
  const then = s.name === 'SIGKILL' ? (s.cleanupAfter ? ', then cleanup' : ', next backup recovers') : '';
  return `${s.name} ${when}${then}`;
}
