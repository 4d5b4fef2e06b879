// Soak run: N seeded backup cycles with faults and signals against one in-process simulated host, then a leak count.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { HELP, parseSoakArgs, type SoakArgs } from './args.js';
import { startSoakHost, type SoakHost } from './host.js';
import {
  BACKUP_SNAPSHOT,
  backupSnapshots,
  GuestBalance,
  lockFiles,
  openJournals,
  partialDirs,
  processesUsing,
  tempEntries,
  userSnapshots,
  vmFiles,
} from './leftovers.js';
import { describeCause, planCycles, SOAK_VMS, soakInventory, type CyclePlan } from './plan.js';
import { cliMessage, runCli, type CliOutcome } from './run-cli.js';
import { qemuImgAvailable, verifyBackup } from './verify-backup.js';

type Verdict = 'completed' | 'failed as injected' | 'unexpected';

interface Soak {
  args: SoakArgs;
  host: SoakHost;
  workDir: string;
  backupsDir: string;
  tmpDir: string;
  logsDir: string;
  env: Record<string, string>;
  initial: Map<string, { snapshots: string; files: string }>;
  guests: GuestBalance;
  /** VMs killed with SIGKILL whose next backup is to recover them: their leftovers are expected until then. */
  awaitingRecovery: Set<string>;
  pids: number[];
  unexpected: string[];
  /** Leftovers the soak had to remove itself to keep the later cycles meaningful: counted as leaked. */
  repaired: string[];
}

/** How long the host may take to finish what it was doing once a run ended (late answers take up to ~7 s). */
const SETTLE_MS = 60_000;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** RSS of this process (which hosts the simulator), after a full collection when node runs with --expose-gc. */
function memory(): { rss: number; heap: number; external: number; gc: boolean } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external, gc: gc !== undefined };
}

async function main(argv: string[]): Promise<number> {
  let args: SoakArgs;
  try {
    args = parseSoakArgs(argv);
  } catch (e) {
    log(`soak: ${(e as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const plans = planCycles(args.seed, args.cycles);
  if (args.planOnly) {
    for (const p of plans) process.stdout.write(`${p.cycle}\t${p.vm.name}\t${describeCause(p)}\t${p.replace ? 'replace' : '-'}\texpect ${p.expected.join('|')}\tseed ${p.seed}\n`);
    return 0;
  }

  const workDir = args.workDir ? resolve(args.workDir) : mkdtempSync(join(tmpdir(), 'vcbmounter-soak-'));
  mkdirSync(workDir, { recursive: true });
  const backupsDir = join(workDir, 'backups');
  const tmpDir = join(workDir, 'tmp');
  const logsDir = join(workDir, 'logs');
  for (const d of [backupsDir, tmpDir, logsDir]) mkdirSync(d, { recursive: true });
  const t0 = Date.now();
  const host = await startSoakHost(workDir, soakInventory());
  const soak: Soak = {
    args,
    host,
    workDir,
    backupsDir,
    tmpDir,
    logsDir,
    // The CLI's temp files (if any) land in the work dir, where the leak check sees only ours.
    env: { TMPDIR: tmpDir, VCBMOUNTER_PASSWORD: '' },
    initial: new Map(SOAK_VMS.map((v) => [v.name, { snapshots: userSnapshots(host.sim, v.name), files: vmFiles(host.sim, v.name) }])),
    guests: new GuestBalance(),
    awaitingRecovery: new Set(),
    pids: [],
    unexpected: [],
    repaired: [],
  };
  const memStart = memory();
  log(
    `soak: seed ${args.seed}${args.seedGiven ? '' : ' (drawn; pass --seed to repeat)'}, ${args.cycles} cycles, VMs ${SOAK_VMS.map((v) => v.name).join(', ')}, ` +
      `host 127.0.0.1:${host.sim.port}, work dir ${workDir}${host.lateSupported ? '' : ' (this simulator has no "late" fault: late cycles run as hang)'}`,
  );

  // Ctrl-C of the soak itself: finish the cycle under way, then clean up and count as usual.
  let stopAfterCycle = false;
  process.once('SIGINT', () => {
    stopAfterCycle = true;
    log('soak: interrupted: finishing this cycle, then cleaning up');
  });

  const counts = { completed: 0, failedAsInjected: 0, unexpected: 0, run: 0 };
  let leaked = 0;
  try {
    for (const plan of plans) {
      if (stopAfterCycle) break;
      const verdict = await runCycle(soak, plan);
      counts.run++;
      if (verdict === 'completed') counts.completed++;
      else if (verdict === 'failed as injected') counts.failedAsInjected++;
      else counts.unexpected++;
    }
    leaked = (await finalCheck(soak)) + soak.repaired.length;
    for (const r of soak.repaired) log(`soak: LEAK: ${r}`);
  } finally {
    await host.stop();
  }
  const memEnd = memory();
  const seconds = (Date.now() - t0) / 1000;

  if (soak.unexpected.length) {
    log(`\nsoak: ${soak.unexpected.length} unexpected outcome(s) (seed ${args.seed}):`);
    for (const u of soak.unexpected) log(`  ${u}`);
  }
  const keep = args.keep || leaked > 0 || counts.unexpected > 0;
  if (keep) log(`soak: work directory kept: ${workDir} (logs of unexpected cycles in ${logsDir})`);
  else rmSync(workDir, { recursive: true, force: true });

  const out = (line: string) => process.stdout.write(`${line}\n`);
  out(`soak: seed ${args.seed}, ${seconds.toFixed(0)} s, qemu-img check ${qemuImgAvailable() === false ? 'not installed' : qemuImgAvailable() ? 'used' : 'not needed'}`);
  out(
    `soak: memory (rss of the process hosting the simulator${memStart.gc ? ', after gc' : ', no --expose-gc'}): start ${mib(memStart.rss)}, end ${mib(memEnd.rss)}; heap used ${mib(memStart.heap)} -> ${mib(memEnd.heap)}, external ${mib(memStart.external)} -> ${mib(memEnd.external)}`,
  );
  if (counts.unexpected) out(`soak: ${counts.unexpected} unexpected outcome(s), listed on stderr`);
  out(`soak: ${counts.run} cycles, ${counts.completed} completed, ${counts.failedAsInjected} failed as injected, ${leaked} leaked`);
  return leaked === 0 && counts.unexpected === 0 ? 0 : 1;
}

/** One backup cycle: prepare the destination, arm the cause, run, judge the exit, release what is due, check what is left. */
async function runCycle(s: Soak, plan: CyclePlan): Promise<Verdict> {
  const { host } = s;
  const vm = plan.vm.name;
  const dest = join(s.backupsDir, vm);
  const problems: string[] = [];
  const flags = [...plan.flags];
  let oldCatalog: string | undefined;

  if (existsSync(dest)) {
    if (plan.replace) {
      flags.push('--preexisting-mountpoint', 'delete');
      oldCatalog = readFileSync(join(dest, 'catalog'), 'utf8');
    } else {
      problems.push(...(await unmount(s, dest)));
    }
  }

  if (plan.fault) host.arm(plan.fault, plan.seed);
  const args = [...host.connect, '-a', `name:${vm}`, '-r', dest, '-L', '2', ...flags];
  const r = await runCli(args, {
    env: s.env,
    onSpawn: (pid) => s.pids.push(pid),
    ...(plan.signal ? { signal: { plan: plan.signal, host } } : {}),
  });
  const fired = host.sim.faults.fired.length;
  if (!(await host.settle(SETTLE_MS))) problems.push(`host commands still running ${SETTLE_MS / 1000} s after the run ended (${host.inFlight()})`);
  host.disarm();

  // The exit code against the cause.
  let verdict: Verdict;
  const sig = plan.signal;
  if (r.timedOut) {
    verdict = 'unexpected';
    problems.push(`the run did not end within its bound and was killed (hung)`);
  } else if (r.exitCode === undefined) {
    // Ended by a signal: SIGKILL always; SIGINT/SIGTERM only outside the CLI's handlers (node's start-up, or exiting
    // after the run); the leftover checks below still apply.
    const expectedSignal = sig && r.signal === sig.name;
    verdict = expectedSignal ? 'failed as injected' : 'unexpected';
    if (!expectedSignal) problems.push(`ended by ${r.signal}, which was not sent`);
  } else if (plan.expected.includes(r.exitCode)) {
    verdict = r.exitCode === 0 ? 'completed' : 'failed as injected';
  } else {
    verdict = 'unexpected';
    problems.push(`exit ${r.exitCode}, expected ${plan.expected.join(' or ')} for ${describeCause(plan)}${plan.fault && fired === 0 ? ' (the fault never fired)' : ''}`);
  }

  // What the admin is told to do next: exit 8 says run cleanup; a SIGKILL leaves it to cleanup or the next backup.
  const killed = r.signal === 'SIGKILL';
  if (killed && sig?.cleanupAfter === false) s.awaitingRecovery.add(vm);
  else {
    if (r.exitCode === 8 || killed) {
      const c = await cleanupUntilDone(s);
      if (c) problems.push(`vcbmounter cleanup after the run: ${c}`);
    }
    s.awaitingRecovery.delete(vm);
  }
  // The recovering backup leaves a killed run's snapshot create that may still complete on the host (its settle
  // time has not come) for later, and goes on; later is now.
  if (plan.kind === 'recover' && openJournals(host.stateDir).some((j) => j.vm === vm)) {
    const c = await cleanupUntilDone(s);
    if (c) problems.push(`vcbmounter cleanup of the killed run the recovering backup left for later: ${c}`);
  }

  problems.push(...(await checkDestination(s, dest, r, oldCatalog)));

  problems.push(...leftovers(s, { except: s.awaitingRecovery }));
  repairHost(s, plan);
  host.trimLogs();

  if (problems.length && verdict !== 'unexpected') verdict = 'unexpected';
  const exit = r.exitCode ?? r.signal;
  const sent = sig ? (r.signalSentAfterMs !== undefined ? ` sent@${r.signalSentAfterMs}ms` : ' (not sent: the run ended first)') : '';
  log(
    `cycle ${plan.cycle}/${s.args.cycles} vm=${vm} ${describeCause(plan)}${sent}${oldCatalog !== undefined ? ' [replacing]' : ''} exit=${exit} ${r.seconds.toFixed(2)}s` +
      `${plan.fault ? ` fired=${fired}` : ''}${verdict === 'unexpected' ? ' UNEXPECTED' : ''}`,
  );
  if (verdict === 'unexpected') {
    const detail = `cycle ${plan.cycle} (cycle seed ${plan.seed}, run seed ${s.args.seed}) vm=${vm} cause: ${describeCause(plan)}; exit ${exit}; ${problems.join('; ')}; message: ${cliMessage(r.stderr).slice(0, 1500)}`;
    s.unexpected.push(detail);
    log(`  UNEXPECTED: ${detail}`);
    writeFileSync(join(s.logsDir, `cycle-${plan.cycle}.log`), `${detail}\n\nargs: ${args.join(' ')}\n\nstdout:\n${r.stdout}\n\nstderr:\n${r.stderr}\n`);
  }
  return verdict;
}

/**
 * `vcbmounter -U DIR` as a backup product's post-command runs it: without host flags. Every run that could not
 * release its snapshot has been through `vcbmounter cleanup` by now, so nothing is held and -U must succeed; if
 * it refuses, that is reported, and -U is run again with the host's flags (its message's other advice) so the
 * next cycles still start from an empty destination.
 */
async function unmount(s: Soak, dest: string): Promise<string[]> {
  const problems: string[] = [];
  const spawn = { env: s.env, onSpawn: (pid: number) => s.pids.push(pid) };
  // As a post-command would: the backup's state directory, no host flags.
  const u = await runCli(['-U', dest, '--state-dir', s.host.stateDir, '-L', '2'], spawn);
  if (u.exitCode === 0 && !existsSync(dest)) return [];
  problems.push(`vcbmounter -U ${dest} exited ${u.exitCode ?? u.signal}${existsSync(dest) ? ' and left it' : ''}: ${cliMessage(u.stderr)}`);
  const again = await runCli(['-U', dest, ...s.host.connect, '-L', '2'], spawn);
  if (again.exitCode !== 0 || existsSync(dest)) {
    problems.push(`vcbmounter -U with the host's flags exited ${again.exitCode ?? again.signal}: ${cliMessage(again.stderr)}; the soak removed ${dest} itself`);
    rmSync(dest, { recursive: true, force: true });
  }
  return problems;
}

/**
 * A _VCB-BACKUP_ snapshot still on the host once the cycle's cleanup is done is beyond what vcbmounter can
 * release (no journal names it): every later backup of that VM would stop on it. The soak removes it itself,
 * as an admin would from the host's console, and counts it as leaked.
 */
function repairHost(s: Soak, plan: CyclePlan): void {
  for (const v of SOAK_VMS) {
    if (s.awaitingRecovery.has(v.name)) continue;
    const vm = s.host.sim.esx.vm(v.name);
    for (const snap of vm.snapshots.filter((x) => x.name === BACKUP_SNAPSHOT)) {
      s.repaired.push(`cycle ${plan.cycle}: ${BACKUP_SNAPSHOT} snapshot of ${v.name} ("${snap.description}") that vcbmounter could not release; removed by the soak`);
      vm.removeSnapshot(snap.uid);
    }
  }
}

/**
 * The destination after a run. Exit 0: a complete backup that verifies. A failed run (1-7): no destination, or
 * the earlier backup untouched when it was being replaced. A run that may have got past publishing its backup
 * before it stopped (exit 8, an interrupt, SIGKILL): whatever is in the destination must be complete, since a
 * destination only ever appears by renaming a finished directory.
 */
async function checkDestination(s: Soak, dest: string, r: CliOutcome, oldCatalog: string | undefined): Promise<string[]> {
  if (r.exitCode === 0) return (await verifyBackup(dest)).map((p) => `backup does not verify: ${p}`);
  const vm = dest.slice(s.backupsDir.length + 1);
  if (s.awaitingRecovery.has(vm)) return [];
  const failed = r.exitCode !== undefined && r.exitCode >= 1 && r.exitCode <= 7;
  const now = existsSync(join(dest, 'catalog')) ? readFileSync(join(dest, 'catalog'), 'utf8') : undefined;
  if (!existsSync(dest)) return oldCatalog === undefined ? [] : [`the earlier backup in ${dest} is gone after a run that did not succeed (--preexisting-mountpoint delete must keep it)`];
  if (oldCatalog !== undefined && now === oldCatalog) return [];
  if (failed) return [oldCatalog === undefined ? `${dest} exists after a run that failed (exit ${r.exitCode})` : `the failed run (exit ${r.exitCode}) replaced the earlier backup in ${dest}`];
  return (await verifyBackup(dest)).map((p) => `a backup published by a run that exited ${r.exitCode ?? r.signal} does not verify: ${p}`);
}

/**
 * Runs `vcbmounter cleanup` until it exits 0. A run whose snapshot create got no answer is held back until the
 * time the message names ("may still be creating ... until T"): the host could still finish the create.
 * Returns a description of the failure, or undefined.
 */
async function cleanupUntilDone(s: Soak): Promise<string | undefined> {
  let last: CliOutcome | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    await s.host.settle(SETTLE_MS);
    last = await runCli(['cleanup', ...s.host.connect, '-L', '2'], { env: s.env, onSpawn: (pid) => s.pids.push(pid) });
    if (last.exitCode === 0) return undefined;
    const until = /until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)/.exec(last.stderr);
    if (!until) break;
    const wait = Date.parse(until[1]!) - Date.now() + 250;
    if (wait > 60_000) break;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return `exit ${last?.exitCode ?? last?.signal}: ${cliMessage(last?.stderr ?? '').slice(0, 600)}`;
}

/** Everything left behind now, except what belongs to VMs still waiting for their recovering backup. */
function leftovers(s: Soak, opts: { except: Set<string> }): string[] {
  const { sim } = s.host;
  const found: string[] = [];
  for (const v of SOAK_VMS) {
    const guest = s.guests.take(sim, v.name);
    if (opts.except.has(v.name)) continue;
    found.push(...backupSnapshots(sim, v.name).map((x) => `left on the host: ${x}`));
    const start = s.initial.get(v.name)!;
    if (userSnapshots(sim, v.name) !== start.snapshots) found.push(`user snapshots of ${v.name} changed: ${start.snapshots} -> ${userSnapshots(sim, v.name)}`);
    if (vmFiles(sim, v.name) !== start.files) found.push(`files of ${v.name} on the datastore changed: ${start.files} -> ${vmFiles(sim, v.name)}`);
    found.push(...guest.map((g) => `guest left frozen: ${g}`));
  }
  const skip = (vm: string) => opts.except.has(vm);
  found.push(...lockFiles(s.host.stateDir).filter((l) => !skip(l.vm)).map((l) => `lock file left: ${l.file}`));
  found.push(...openJournals(s.host.stateDir).filter((j) => !skip(j.vm)).map((j) => `journal still open: ${j.file}`));
  found.push(...partialDirs(s.backupsDir).filter((p) => !skip(p.vm)).map((p) => `partial or old directory left: ${p.path}`));
  found.push(...tempEntries(s.tmpDir).map((t) => `temp file left: ${t}`));
  found.push(...processesUsing(s.workDir).map((p) => `process still running: ${p}`));
  return found;
}

/** After the last cycle: let the host settle, run cleanup, then count every leak. */
async function finalCheck(s: Soak): Promise<number> {
  const { host } = s;
  const leaks: string[] = [];
  if (!(await host.settle(SETTLE_MS))) leaks.push(`host commands still running: ${host.inFlight()}`);
  host.disarm();
  const c = await cleanupUntilDone(s);
  if (c) leaks.push(`final vcbmounter cleanup failed: ${c}`);
  s.awaitingRecovery.clear();
  if (!(await host.settle(SETTLE_MS))) leaks.push(`host commands still running after cleanup: ${host.inFlight()}`);
  leaks.push(...leftovers(s, { except: new Set() }));
  const list = await runCli(['cleanup', '--list', '--state-dir', host.stateDir], { env: s.env });
  if (list.exitCode !== 0 || !list.stdout.includes('no interrupted runs')) {
    // Open journals are already counted one by one; count the listing only when it disagrees with them.
    if (!openJournals(host.stateDir).length) leaks.push(`vcbmounter cleanup --list reports runs: ${list.stdout.trim().slice(0, 500)}`);
  }
  for (const pid of s.pids) {
    if (isAlive(pid)) leaks.push(`vcbmounter process ${pid} still alive`);
  }
  for (const l of leaks) log(`soak: LEAK: ${l}`);
  return leaks.length;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A reused pid belongs to another program; ours run the vcbmounter bin.
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('vcbmounter');
  } catch {
    return false;
  }
}

process.exitCode = await main(process.argv.slice(2));
