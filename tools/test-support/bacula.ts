// A real Bacula 9.6 site on 127.0.0.1 (director, file storage daemon, one or two file daemons, sqlite catalog) for tests.
//
// Each daemon is the Debian package's binary run in the foreground by the test, with configuration written into a
// temp dir; nothing under /etc/bacula or /var/lib/bacula is read, so it does not matter what the packages' postinst did.
//
// How Bacula 9.6 treats a RunScript, as this harness's own tests found (test/bacula/bacula-harness.test.ts):
// - Command: job codes are substituted first (%i JobId, %n job name, %c client, %l level, %e exit status...; %% is
//   a literal %). The result is NOT given to a shell: Bacula splits it itself (lib/bpipe.c build_argc_argv) and execvp()s
//   argv[0]. Arguments are separated by single spaces. An argument that STARTS with ' or " runs to the next identical
//   quote, with no escapes inside; a quote elsewhere in a word is an ordinary character; $VAR, *, ;, | and > are
//   ordinary characters. So `sh -c 'echo $HOME > /x'` works, `a"b c"` gives two arguments a"b and c".
//   stdout and stderr of the command both end up in the job's messages, one message per line.
//   In the configuration file the command is a quoted string in which \" and \\ are escapes; configString() writes that.
// - Before script exits non-zero (FailJobOnError, the default): the job ends f; After scripts with RunsOnFailure = yes
//   run, on the client and on the director.
// - `cancel` while the client's Before script runs: the director marks the job A at once and runs its own
//   (RunsOnClient = no) RunsOnFailure After scripts. The FD does NOT kill the Before script: it runs to its end, and
//   only then does the FD run its RunsOnFailure After scripts, after the director has already reported the job A.
//   So a client-side After script is not a prompt cleanup after a cancel, and a Before script that blocks keeps
//   blocking; only a director-side After script runs as soon as the job is canceled (Bacula's manual defines the old
//   Run After Failed Job as such a RunScript; not tried here).
// - `cancel` during the data transfer: both the client's and the director's RunsOnFailure After scripts run
//   (the client's may end a moment after the director reports A). RunsOnSuccess-only After scripts run in neither case.
// - Two jobs started together on one shared File device ran one after the other now and then (the second's Before
//   script began only when the first's had ended; the storage daemon reserves a job's device before its Before
//   scripts run). So the storage daemon has one device per job that may run at once, and each job its own pool.
// - The director's job queue looks for startable jobs every 2 s, so of two jobs started together the second may start
//   a few seconds later even when Maximum Concurrent Jobs allows both at once.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';

export interface BaculaRunScript {
  when: 'Before' | 'After';
  /** Run by the FD (runsOnClient, the default) or the director; split by Bacula, not by a shell (see the top of this file). */
  command: string;
  /** Bacula's defaults: runsOnSuccess yes, runsOnFailure no, failJobOnError yes, runsOnClient yes. */
  runsOnSuccess?: boolean;
  runsOnFailure?: boolean;
  failJobOnError?: boolean;
  runsOnClient?: boolean;
}

export interface BaculaJobSpec {
  name: string;
  /** Index of the file daemon (client) that runs the job: 0 or 1. Default 0. */
  client?: number;
  /** The one directory the job's FileSet backs up. */
  directory: string;
  signature?: 'SHA1' | 'MD5';
  /** More lines for the FileSet's Options block, e.g. `readfifo = yes` (a FIFO's data is backed up, read until EOF). */
  fileSetOptions?: string[];
  runScripts?: BaculaRunScript[];
  /** The Job's Maximum Bandwidth, e.g. '200 kb/s': slows the FD's reading so that a test can catch the job mid-transfer. */
  maximumBandwidth?: string;
  /** The Job's Maximum Concurrent Jobs (how many runs of this job at once). Default 10, not Bacula's 1. */
  maximumConcurrentJobs?: number;
}

export interface StartBaculaOptions {
  /** The jobs, or a function of the site's work dir that returns them (to name scripts and data inside it). */
  jobs: BaculaJobSpec[] | ((work: string) => BaculaJobSpec[]);
  fileDaemons?: 1 | 2;
  /** Director-wide Maximum Concurrent Jobs. Default 20. */
  maximumConcurrentJobs?: number;
  /** Maximum Concurrent Jobs of each Client resource, by index. Default 10 each (Bacula's own default is 1). */
  clientMaximumConcurrentJobs?: number[];
  /**
   * Maximum Concurrent Jobs of the director's one Storage resource: how many jobs, of any client, may run at once.
   * Default 20. A job the limit holds back waits in the director's queue ("is waiting on max Storage jobs") before
   * anything of it runs on a client, its Before scripts included.
   */
  storageMaximumConcurrentJobs?: number;
  /**
   * File devices of the storage daemon's virtual autochanger, each for one job at a time. Default 4: as many as the
   * jobs a test runs at once, so that no job waits for another's device (see the top of this file).
   */
  devices?: number;
  /** Bacula's -d level for every daemon (its debug lines go to the daemon's log in the work dir). */
  debugLevel?: number;
}

export interface BaculaJobResult {
  jobId: number;
  /** Final JobStatus letter: T ok, W ok with warnings, E/e errors, f fatal, A canceled, I incomplete. */
  status: string;
  /** The job's messages from the catalog's Log table. */
  log: string;
}

export interface BaculaSite {
  /** Temp dir holding configs, daemons' working dirs, logs and volumes; tests may put their data here too. */
  work: string;
  dirPort: number;
  sdPort: number;
  fdPorts: number[];
  /** Client resource names, by index (what restore's `client` takes). */
  clients: string[];
  /** Runs bconsole with these commands on stdin (one per line) and returns its output. */
  bconsole(commands: string): Promise<string>;
  /** Starts a job and waits for its final status. */
  runJob(job: string, opts?: { timeoutMs?: number }): Promise<BaculaJobResult>;
  /** Starts a job and returns its JobId without waiting. */
  startJob(job: string): Promise<number>;
  waitJob(jobId: number, timeoutMs?: number): Promise<BaculaJobResult>;
  cancel(jobId: number): Promise<string>;
  /** Restores everything a backup job saved to `where` + original path, waits for the restore job. */
  restore(opts: { jobId: number; where: string; client?: string; timeoutMs?: number }): Promise<BaculaJobResult>;
  /** Daemons' own output and the messages file, for a failing test's diagnostics. */
  diagnostics(): string;
  stop(): Promise<void>;
}

const SBIN = ['/usr/sbin', '/sbin', '/usr/local/sbin'];
const CATALOG_DDL = [
  // Plain SQL the package gives dbconfig-common; make_sqlite3_tables holds the same DDL inside a shell here-document.
  '/usr/share/dbconfig-common/data/bacula-director-sqlite3/install/sqlite3',
];
const FINAL_STATUSES = new Set(['T', 'W', 'E', 'e', 'f', 'A', 'D', 'I']);
const DIRECTOR = 'vcb-dir';

function findProgram(name: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(':').filter(Boolean), ...SBIN]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} not found on PATH or in ${SBIN.join(', ')}: scripts/test installs the bacula packages`);
}

/** A value as a quoted string of Bacula's configuration syntax (its lexer takes \" and \\ in quoted strings). */
export function configString(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

function runScriptResource(script: BaculaRunScript): string {
  const lines = [`    RunsWhen = ${script.when}`, `    Command = ${configString(script.command)}`];
  if (script.runsOnSuccess !== undefined) lines.push(`    RunsOnSuccess = ${yesNo(script.runsOnSuccess)}`);
  if (script.runsOnFailure !== undefined) lines.push(`    RunsOnFailure = ${yesNo(script.runsOnFailure)}`);
  if (script.failJobOnError !== undefined) lines.push(`    FailJobOnError = ${yesNo(script.failJobOnError)}`);
  if (script.runsOnClient !== undefined) lines.push(`    RunsOnClient = ${yesNo(script.runsOnClient)}`);
  return ['  RunScript {', ...lines, '  }'].join('\n');
}

/**
 * Whether something listens on 127.0.0.1:port, read from /proc/net/tcp rather than by connecting: a file daemon
 * logs a "Security Alert" for every connection that does not say Hello, and that alert would land in job logs.
 */
function listening(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readText('/proc/net/tcp')
    .split('\n')
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && fields[3] === '0A'; // 0A: TCP_LISTEN
    });
}

async function waitForPort(port: number, daemon: Daemon): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`${daemon.name} exited (${daemon.child.exitCode ?? daemon.child.signalCode}) before listening on ${port}:\n${daemon.output()}`);
    }
    if (listening(port)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${daemon.name} did not listen on 127.0.0.1:${port} within 20 s:\n${daemon.output()}`);
}

interface Daemon {
  name: string;
  child: ChildProcess;
  logFile: string;
  output(): string;
}

// Process groups of every daemon still running in this process: killed on exit if a test never called stop(),
// so that neither a daemon nor a RunScript it started outlives the test worker.
const liveGroups = new Set<number>();
process.once('exit', () => {
  for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
});

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

function startDaemon(name: string, program: string, config: string, logs: string, debugLevel?: number): Daemon {
  const logFile = join(logs, `${name}.log`);
  const fd = openSync(logFile, 'a');
  // Own process group (detached), so that stop() also reaches the RunScript children a daemon left running.
  const child = spawn(program, ['-f', ...(debugLevel ? ['-d', String(debugLevel)] : []), '-c', config], { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  child.unref();
  if (child.pid !== undefined) liveGroups.add(child.pid);
  return { name, child, logFile, output: () => readText(logFile) };
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

async function stopDaemon(daemon: Daemon): Promise<void> {
  const pid = daemon.child.pid;
  if (pid === undefined) return;
  if (daemon.child.exitCode === null && daemon.child.signalCode === null) {
    // Held again (it was unref'd at start) so that node stays alive until the daemon is reaped.
    daemon.child.ref();
    const exited = new Promise<void>((resolve) => daemon.child.once('exit', () => resolve()));
    killGroup(pid, 'SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
    clearTimeout(timer);
  }
  // Always: the daemon may be gone but a RunScript it started (a sleep, say) may still be in its group.
  killGroup(pid, 'SIGKILL');
  liveGroups.delete(pid);
}

function validate(name: string, program: string, config: string): void {
  try {
    execFileSync(program, ['-t', '-c', config], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${name} rejected its configuration ${config}:\n${stdout ?? ''}${stderr ?? ''}\n--- config (passwords left out) ---\n${readText(config).replace(/^(\s*Password\s*=).*$/gim, '$1 ...')}`);
  }
}

/**
 * The messages of `list joblog`'s table as plain text. Each row is `| <message>` where the message keeps its own
 * newline, so the row's padding and closing `|` follow on a line of their own that starts with a backslash.
 */
export function parseJobLog(output: string): string {
  const lines = output.split('\n');
  const header = lines.findIndex((line) => /^\|\s*LogText\s*\|$/.test(line));
  if (header < 0) return output;
  const text: string[] = [];
  for (const line of lines.slice(header + 2)) {
    if (/^\+-+\+$/.test(line)) break;
    if (/^\\\s*\|$/.test(line)) continue;
    text.push(line.startsWith('| ') ? line.slice(2) : line);
  }
  return text.join('\n');
}

export async function startBacula(opts: StartBaculaOptions): Promise<BaculaSite> {
  const fileDaemons = opts.fileDaemons ?? 1;
  const programs = {
    dir: findProgram('bacula-dir'),
    sd: findProgram('bacula-sd'),
    fd: findProgram('bacula-fd'),
    bconsole: findProgram('bconsole'),
    sqlite3: findProgram('sqlite3'),
  };
  const ddl = CATALOG_DDL.find((file) => existsSync(file));
  if (!ddl) throw new Error(`no sqlite3 catalog DDL (${CATALOG_DDL.join(', ')}): install bacula-director-sqlite3`);
  if (!existsSync('/usr/lib/bacula/libbaccats-sqlite3.so')) {
    throw new Error('the director has no sqlite3 catalog backend (/usr/lib/bacula/libbaccats-sqlite3.so): install bacula-director-sqlite3');
  }

  const work = mkdtempSync(join(tmpdir(), 'vcb-bacula-'));
  const daemons: Daemon[] = [];
  try {
    const dirs = {
      etc: join(work, 'etc'),
      logs: join(work, 'logs'),
      dir: join(work, 'dir'),
      sd: join(work, 'sd'),
      storage: join(work, 'storage'),
      fd: Array.from({ length: fileDaemons }, (_, index) => join(work, `fd${index + 1}`)),
    };
    for (const dir of [dirs.logs, dirs.dir, dirs.sd, dirs.storage, ...dirs.fd]) mkdirSync(dir, { recursive: true });
    mkdirSync(dirs.etc, { mode: 0o700 });
    const jobs = typeof opts.jobs === 'function' ? opts.jobs(work) : opts.jobs;
    if (jobs.length === 0) throw new Error('startBacula: no jobs');

    const password = () => randomBytes(24).toString('base64url');
    const secrets = { dir: password(), sd: password(), fd: dirs.fd.map(password) };
    const dirPort = await freePort();
    const sdPort = await freePort();
    const fdPorts: number[] = [];
    for (let index = 0; index < fileDaemons; index++) fdPorts.push(await freePort());
    const clients = dirs.fd.map((_, index) => `vcb-fd${index + 1}`);
    const messagesFile = join(dirs.logs, 'messages.log');

    const writeConfig = (file: string, lines: string[]) => {
      const path = join(dirs.etc, file);
      writeFileSync(path, lines.join('\n') + '\n', { mode: 0o600 });
      return path;
    };

    const devices = Array.from({ length: opts.devices ?? 4 }, (_, index) => `FileDev${index + 1}`);
    const sdConfig = writeConfig('bacula-sd.conf', [
      'Storage {',
      '  Name = vcb-sd',
      `  SDAddress = 127.0.0.1`,
      `  SDPort = ${sdPort}`,
      `  WorkingDirectory = ${configString(dirs.sd)}`,
      `  Pid Directory = ${configString(dirs.sd)}`,
      '  Maximum Concurrent Jobs = 20',
      '}',
      `Director {\n  Name = ${DIRECTOR}\n  Password = ${configString(secrets.sd)}\n}`,
      // A virtual disk autochanger, as in Debian's own bacula-sd.conf: one File device per job that may run at once.
      `Autochanger {\n  Name = FileChgr\n  Device = ${devices.join(', ')}\n  Changer Command = ""\n  Changer Device = /dev/null\n}`,
      ...devices.flatMap((device) => [
        'Device {',
        `  Name = ${device}`,
        '  Media Type = File',
        `  Archive Device = ${configString(dirs.storage)}`,
        '  Autochanger = yes',
        '  LabelMedia = yes',
        '  Random Access = yes',
        '  AutomaticMount = yes',
        '  RemovableMedia = no',
        '  AlwaysOpen = no',
        '  Maximum Concurrent Jobs = 1',
        '}',
      ]),
      `Messages {\n  Name = Standard\n  director = ${DIRECTOR} = all\n}`,
    ]);
    const fdConfigs = dirs.fd.map((dir, index) =>
      writeConfig(`bacula-fd${index + 1}.conf`, [
        'FileDaemon {',
        `  Name = ${clients[index]}`,
        '  FDAddress = 127.0.0.1',
        `  FDPort = ${fdPorts[index]}`,
        `  WorkingDirectory = ${configString(dir)}`,
        `  Pid Directory = ${configString(dir)}`,
        '  Maximum Concurrent Jobs = 20',
        '}',
        `Director {\n  Name = ${DIRECTOR}\n  Password = ${configString(secrets.fd[index]!)}\n}`,
        `Messages {\n  Name = Standard\n  director = ${DIRECTOR} = all, !skipped, !restored\n}`,
      ]),
    );

    // The director needs a QueryFile; an empty one is enough (it only feeds bconsole's `query` command).
    const queryFile = join(dirs.etc, 'query.sql');
    writeFileSync(queryFile, '', { mode: 0o600 });
    const dirLines = [
      'Director {',
      `  Name = ${DIRECTOR}`,
      '  DirAddress = 127.0.0.1',
      `  DIRport = ${dirPort}`,
      `  QueryFile = ${configString(queryFile)}`,
      `  WorkingDirectory = ${configString(dirs.dir)}`,
      `  Pid Directory = ${configString(dirs.dir)}`,
      `  Maximum Concurrent Jobs = ${opts.maximumConcurrentJobs ?? 20}`,
      `  Password = ${configString(secrets.dir)}`,
      '  Messages = Daemon',
      '}',
      // sqlite: the database is WorkingDirectory/<dbname>.db, created below.
      'Catalog {\n  Name = MyCatalog\n  dbname = "bacula"\n  dbuser = ""\n  dbpassword = ""\n}',
      'Storage {',
      '  Name = File',
      '  Address = 127.0.0.1',
      `  SDPort = ${sdPort}`,
      `  Password = ${configString(secrets.sd)}`,
      '  Device = FileChgr',
      '  Autochanger = yes',
      '  Media Type = File',
      `  Maximum Concurrent Jobs = ${opts.storageMaximumConcurrentJobs ?? 20}`,
      '}',
      // Job messages: to the console (bconsole `messages`), a file in the work dir, and the catalog (`list joblog`).
      'Messages {',
      '  Name = Standard',
      '  console = all, !skipped, !saved',
      `  append = ${configString(messagesFile)} = all, !skipped`,
      '  catalog = all, !skipped, !saved',
      '}',
      `Messages {\n  Name = Daemon\n  console = all, !skipped, !saved\n  append = ${configString(messagesFile)} = all, !skipped\n}`,
    ];
    clients.forEach((client, index) => {
      dirLines.push(
        'Client {',
        `  Name = ${client}`,
        '  Address = 127.0.0.1',
        `  FDPort = ${fdPorts[index]}`,
        '  Catalog = MyCatalog',
        `  Password = ${configString(secrets.fd[index]!)}`,
        `  Maximum Concurrent Jobs = ${opts.clientMaximumConcurrentJobs?.[index] ?? 10}`,
        '  AutoPrune = no',
        '}',
      );
    });
    for (const job of jobs) {
      // Each job its own pool, so that jobs running at once never wait for one another's volume.
      dirLines.push(
        'Pool {',
        `  Name = ${configString(`${job.name}-pool`)}`,
        '  Pool Type = Backup',
        `  Label Format = ${configString(`${job.name}-`)}`,
        '  Maximum Volume Bytes = 1G',
        '  AutoPrune = no',
        '  Recycle = no',
        '}',
      );
    }
    for (const job of jobs) {
      const client = clients[job.client ?? 0];
      if (!client) throw new Error(`job ${job.name}: no file daemon ${job.client} (fileDaemons: ${fileDaemons})`);
      dirLines.push(
        'FileSet {',
        `  Name = ${configString(`${job.name}-set`)}`,
        '  Include {',
        '    Options {',
        `      signature = ${job.signature ?? 'SHA1'}`,
        ...(job.fileSetOptions ?? []).map((line) => `      ${line}`),
        '    }',
        `    File = ${configString(job.directory)}`,
        '  }',
        '}',
        'Job {',
        `  Name = ${configString(job.name)}`,
        '  Type = Backup',
        '  Level = Full',
        `  Client = ${client}`,
        `  FileSet = ${configString(`${job.name}-set`)}`,
        '  Storage = File',
        `  Pool = ${configString(`${job.name}-pool`)}`,
        '  Messages = Standard',
        `  Maximum Concurrent Jobs = ${job.maximumConcurrentJobs ?? 10}`,
        ...(job.maximumBandwidth ? [`  Maximum Bandwidth = ${job.maximumBandwidth}`] : []),
        ...(job.runScripts ?? []).map(runScriptResource),
        '}',
      );
    }
    // The one Restore job, so `restore ... yes` needs no choice of job; client and where are given per restore.
    dirLines.push(
      'Job {',
      '  Name = RestoreFiles',
      '  Type = Restore',
      `  Client = ${clients[0]}`,
      `  FileSet = ${configString(`${jobs[0]!.name}-set`)}`,
      '  Storage = File',
      `  Pool = ${configString(`${jobs[0]!.name}-pool`)}`,
      '  Messages = Standard',
      `  Where = ${configString(join(work, 'restores'))}`,
      '  Maximum Concurrent Jobs = 10',
      '}',
    );
    const dirConfig = writeConfig('bacula-dir.conf', dirLines);
    const bconsoleConfig = writeConfig('bconsole.conf', [
      `Director {\n  Name = ${DIRECTOR}\n  DIRport = ${dirPort}\n  Address = 127.0.0.1\n  Password = ${configString(secrets.dir)}\n}`,
    ]);

    // The catalog: the package's DDL into WorkingDirectory/bacula.db.
    execFileSync(programs.sqlite3, [join(dirs.dir, 'bacula.db')], { input: readFileSync(ddl), stdio: ['pipe', 'ignore', 'pipe'] });

    validate('bacula-sd', programs.sd, sdConfig);
    fdConfigs.forEach((config, index) => validate(`bacula-fd${index + 1}`, programs.fd, config));
    validate('bacula-dir', programs.dir, dirConfig);

    const sd = startDaemon('bacula-sd', programs.sd, sdConfig, dirs.logs, opts.debugLevel);
    daemons.push(sd);
    const fds = fdConfigs.map((config, index) => startDaemon(`bacula-fd${index + 1}`, programs.fd, config, dirs.logs, opts.debugLevel));
    daemons.push(...fds);
    const dir = startDaemon('bacula-dir', programs.dir, dirConfig, dirs.logs, opts.debugLevel);
    daemons.push(dir);
    await waitForPort(sdPort, sd);
    for (const [index, fd] of fds.entries()) await waitForPort(fdPorts[index]!, fd);
    await waitForPort(dirPort, dir);

    const diagnostics = () =>
      [...daemons.map((daemon) => `--- ${daemon.name} ---\n${daemon.output()}`), `--- messages ---\n${readText(messagesFile)}`].join('\n');

    const bconsole = (commands: string) =>
      new Promise<string>((resolve, reject) => {
        const child = execFile(programs.bconsole, ['-n', '-c', bconsoleConfig], { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
          if (error) reject(new Error(`bconsole failed (${error.message}):\n${stdout}${stderr}`));
          else resolve(stdout);
        });
        child.stdin!.end(commands.endsWith('\n') ? commands : `${commands}\n`);
      });

    const queuedJobId = (output: string, what: string) => {
      const match = /Job queued\. JobId=(\d+)/.exec(output);
      if (!match) throw new Error(`${what}: no "Job queued. JobId=" in bconsole's output:\n${output}`);
      return Number(match[1]);
    };

    const jobStatus = async (jobId: number) => {
      const output = await bconsole(`llist jobid=${jobId}`);
      return /^\s*jobstatus:\s*(\S)/im.exec(output)?.[1];
    };

    // A job's final status is in the catalog before the director has finished it (director-side After scripts and the
    // end-of-job report come later), so waiting also means waiting for it to leave `status dir`'s running list.
    const stillRunning = async (jobId: number) => {
      const output = await bconsole('status dir');
      // The section ends at a line of exactly four '=' (its table's header underline is longer).
      const running = /^Running Jobs:$([\s\S]*?)^====$/m.exec(output)?.[1] ?? '';
      return new RegExp(`^\\s*${jobId}\\s`, 'm').test(running);
    };

    const jobLog = async (jobId: number) => parseJobLog(await bconsole(`list joblog jobid=${jobId}`));

    const waitJob = async (jobId: number, timeoutMs = 60_000): Promise<BaculaJobResult> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await jobStatus(jobId);
        if (status && FINAL_STATUSES.has(status) && !(await stillRunning(jobId))) {
          return { jobId, status, log: await jobLog(jobId) };
        }
        if (Date.now() > deadline) {
          throw new Error(`job ${jobId} did not end within ${timeoutMs} ms (status ${status ?? 'unknown'}):\n${diagnostics()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };

    const startJob = async (job: string) => queuedJobId(await bconsole(`run job="${job}" yes`), `run job=${job}`);

    let stopped = false;
    return {
      work,
      dirPort,
      sdPort,
      fdPorts,
      clients,
      bconsole,
      startJob,
      waitJob,
      async runJob(job, runOpts) {
        return waitJob(await startJob(job), runOpts?.timeoutMs);
      },
      cancel: (jobId) => bconsole(`cancel jobid=${jobId} yes`),
      async restore({ jobId, where, client, timeoutMs }) {
        const output = await bconsole(`restore jobid=${jobId} client=${client ?? clients[0]} where="${where}" all done yes`);
        return waitJob(queuedJobId(output, `restore jobid=${jobId}`), timeoutMs);
      },
      diagnostics,
      async stop() {
        if (stopped) return;
        stopped = true;
        await Promise.all(daemons.map(stopDaemon));
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(daemons.map(stopDaemon));
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}
