// Step serve: start the disk server (each snapshot disk as a read-only NBD export) and present every disk as a file with nbdfuse.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { VcbError } from '../errors.js';
import { startFuseDisk } from '../mount/fuse-disk.js';
import { startDiskServer } from '../serve/start-disk-server.js';
import type { HostServeConfig, ServeConfig } from '../serve/serve-config.js';
import type { UndoHandle } from '../engine/index.js';
import { levelFor } from '../log.js';
import { fetchFileByCat, fetchFileWithReader } from '../vlun/index.js';
import { deltaInput, readerFor } from '../workflow/export-plan.js';
import type { JobContext, JobState, JobStep, MountingContext } from './step.js';

// A Unix socket's path must fit in sun_path (108 bytes on Linux, with its NUL).
const MAX_SOCKET_PATH = 107;

/** The users' snapshot deltas under ours, copied to this proxy (the view lays them over the base), oldest first. */
async function fetchDeltas(ctx: JobContext, runDir: string): Promise<string[][]> {
  const { job, o } = ctx;
  const session = job.session!;
  const all: string[][] = [];
  for (const [i, d] of job.disks.entries()) {
    const local: string[] = [];
    for (const [j, link] of d.deltas.entries()) {
      const path = join(runDir, `disk${i}-delta${j}`);
      const input = await deltaInput(session.esx, o, link);
      if (input.blockMap) await fetchFileWithReader(readerFor(o, session, ctx.log), { dataPath: input.dataPath, blockMap: input.blockMap }, path, { signal: ctx.signal });
      else await fetchFileByCat(session.transport, input.dataPath, path, { signal: ctx.signal });
      local.push(path);
    }
    all.push(local);
  }
  return all;
}

/** The pino level name as the -L number the disk server's logger takes. */
export function levelNumber(level: string): number {
  for (let l = 0; l <= 6; l++) if (levelFor(l) === level) return l;
  return 3;
}

/** The disk server's working directory for a run (sockets, fetched deltas, its log), refused when the sockets' paths would be too long. */
export function serverRunDir(ctx: MountingContext, disks: number, flag: string): string {
  const runDir = join(ctx.stateDir, 'vlun', ctx.runId);
  if (join(runDir, `disk${disks}.sock`).length > MAX_SOCKET_PATH) {
    throw new VcbError('MOUNT', `${flag} ${ctx.stateDir} is too long a path for the disk server's sockets (${join(runDir, 'disk0.sock')}); use a shorter ${flag}`);
  }
  return runDir;
}

export const socketPathOf = (runDir: string, disk: number) => join(runDir, `disk${disk}.sock`);

/**
 * Starts the disk server on `config` (its resource registered in `server` before: the caller made runDir under
 * it) and presents each of its disks as a file with nbdfuse; the disk files in config's disk order.
 */
export async function presentDisks(ctx: MountingContext, server: UndoHandle, runDir: string, config: ServeConfig): Promise<{ server: NonNullable<JobState['server']>; diskFiles: string[] }> {
  const started = await startDiskServer(config, (pid) => server.update({ pid }), ctx.signal);
  server.update({ pid: started.pid, startedBefore: started.startedBefore });
  ctx.log.info({ pid: started.pid, log: config.logFile }, 'disk server started');
  const diskFiles: string[] = [];
  for (const [i, d] of config.disks.entries()) {
    const mountPoint = join(runDir, `disk${i}`);
    ctx.acquire('fuse-disk', `disk file of ${d.name} at ${mountPoint}`, { mountPoint });
    const disk = await startFuseDisk(mountPoint, d.socketPath);
    diskFiles.push(disk.file);
  }
  return { server: { ...started, logFile: config.logFile }, diskFiles };
}

export const serveDisks: JobStep = {
  name: 'serve',
  describe: (o) => `serve each snapshot disk read-only to this proxy (${o.mode === 'san' ? 'read from the LUN' : 'read through the host over SSH'}) and present it as a file with nbdfuse`,
  acquires: ['disk-server', 'fuse-disk'],
  errorCode: 'MOUNT',
  hostCommands: ['^cat ', '^dd ', '^vmkfstools '],
  writesDestination: false,
  async run(ctx) {
    const { job, o } = ctx;
    const runDir = serverRunDir(ctx, job.disks.length, '--state-dir');
    const server = ctx.acquire('disk-server', `disk server of run ${ctx.runId}`, { runDir });
    mkdirSync(runDir, { recursive: true, mode: 0o700 });
    const deltas = await fetchDeltas(ctx, runDir);
    const session = job.session!;
    const config: ServeConfig = {
      source: 'host',
      connect: {
        host: o.host,
        port: o.port,
        user: o.user,
        ...(o.password !== undefined ? { password: o.password } : {}),
        ...(o.identityFile !== undefined ? { identityFile: o.identityFile } : {}),
        hostKey: session.transport.fingerprint,
        commandSet: session.esx.commandSet,
        commandTimeoutMs: o.commandTimeoutMs,
      },
      mode: o.mode === 'san' ? 'san' : o.mode === 'nbdssl' ? 'nbdssl' : 'nbd',
      lunMap: { ...o.lunMap },
      logFile: join(runDir, 'server.log'),
      logLevel: levelNumber(ctx.log.level),
      disks: job.disks.map((d, i) => ({
        name: d.device,
        socketPath: socketPathOf(runDir, i),
        dataPath: d.baseData,
        blockMap: d.blockMap! as unknown as HostServeConfig['disks'][number]['blockMap'],
        capacity: d.capacity,
        deltas: deltas[i]!,
        throughHost: d.rdm === 'virtual',
      })),
    };
    const presented = await presentDisks(ctx, server, runDir, config);
    job.server = presented.server;
    job.diskFiles = presented.diskFiles;
  },
};
