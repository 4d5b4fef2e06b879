// The disk server process: serves each disk of a -t file run (or of a mounted fullvm export) as a read-only NBD export on a Unix socket until -U stops it.
//
// It outlives the command that started it (the volumes stay mounted for the backup program), so it reads the
// disks itself: over its own SSH connection (nbd), from the LUN (san), or from the export's files on this
// proxy (mount-backup). SIGTERM stops it cleanly.

import { createLogger, type Logger } from '../log.js';
import type { BlockMap } from '../esx/parse/block-map.js';
import { serveNbd, type BlockSource } from '../nbd/index.js';
import { SnapshotDiskView } from '../vlun/disk-view.js';
import { SanReader, SessionReader, type DiskReader } from '../vlun/index.js';
import { ExportDiskView } from '../vlun/export-view.js';
import { openHostSession, type HostSession } from '../workflow/connect.js';
import { withReconnect } from '../transport/index.js';
import { serveConfigSchema, type ExportServeConfig, type HostServeConfig, type ServeConfig, type ServeReady } from './serve-config.js';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A reader whose every read gets one new connection if the host dropped the old one (a later read then works again). */
function reconnectingReader(session: HostSession, inner: DiskReader): DiskReader {
  return {
    mode: inner.mode,
    read: (source, sink, options) => withReconnect(session.transport, () => inner.read(source, sink, options), options?.signal),
  };
}

/** Serves the disks of a fullvm export from this proxy's files (read-only: the backup never changes). */
async function startServingExport(config: ExportServeConfig, log: Logger): Promise<() => Promise<void>> {
  const closers: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
  };
  try {
    for (const d of config.disks) {
      const view = await ExportDiskView.open(d.descriptorPath, d.capacity);
      closers.push(() => view.close());
      const server = await serveNbd({ socketPath: d.socketPath, exports: view, log: log.child({ disk: d.name, layer: 'nbd' }) });
      closers.push(() => server.close());
      log.info({ disk: d.name, socket: d.socketPath, descriptor: d.descriptorPath, capacity: d.capacity }, 'serving the exported disk');
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return stop;
}

function startServing(config: ServeConfig, log: Logger): Promise<() => Promise<void>> {
  return config.source === 'export' ? startServingExport(config, log) : startServingHost(config, log);
}

async function startServingHost(config: HostServeConfig, log: Logger): Promise<() => Promise<void>> {
  const needsHost = config.mode !== 'san' || config.disks.some((d) => d.throughHost);
  const session = needsHost
    ? await openHostSession({ ...config.connect, acceptNewHostKey: false, connectRetries: 2 }, log)
    : undefined;
  // Long-lived dd loops: the mount's reads come one small miss at a time, and a new command per miss costs more than the read.
  const loops = session ? new SessionReader(session.transport, { mode: config.mode === 'nbdssl' ? 'nbdssl' : 'nbd' }) : undefined;
  const throughHost = session && loops ? reconnectingReader(session, loops) : undefined;
  // The view asks for a chunk or a read-ahead batch at a time: one chunk-sized buffer, no read-ahead of the reader's own.
  const fromLun = config.mode === 'san' ? new SanReader(config.lunMap, { lunFlag: '--lun', chunkSize: 1024 * 1024, readAhead: 0 }) : undefined;
  const closers: Array<() => Promise<void>> = [];
  try {
    for (const d of config.disks) {
      const reader = d.throughHost || !fromLun ? throughHost! : fromLun;
      const view = new SnapshotDiskView({
        reader,
        source: { dataPath: d.dataPath, blockMap: d.blockMap as unknown as BlockMap },
        capacity: d.capacity,
        deltas: d.deltas,
        log: log.child({ disk: d.name }),
      });
      const source: BlockSource = view;
      const server = await serveNbd({ socketPath: d.socketPath, exports: source, log: log.child({ disk: d.name, layer: 'nbd' }) });
      closers.push(async () => {
        await server.close();
        await view.close();
      });
      log.info({ disk: d.name, socket: d.socketPath, capacity: d.capacity }, 'serving the snapshot disk');
    }
  } catch (e) {
    for (const close of closers.reverse()) await close().catch(() => {});
    await loops?.close().catch(() => {});
    await session?.transport.close().catch(() => {});
    throw e;
  }
  return async () => {
    for (const close of closers.reverse()) await close().catch(() => {});
    await loops?.close().catch(() => {});
    await session?.transport.close().catch(() => {});
  };
}

function announce(line: ServeReady): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

/** The `serve-disks` entry: config on stdin, one ready line on stdout, then serves until SIGTERM or SIGINT. */
export async function runDiskServer(): Promise<number> {
  let config: ServeConfig;
  try {
    config = serveConfigSchema.parse(JSON.parse(await readStdin()));
  } catch (e) {
    announce({ ready: false, error: `bad configuration on stdin: ${(e as Error).message}` });
    return 2;
  }
  const log = createLogger({ level: config.logLevel, file: config.logFile });
  let stop: () => Promise<void>;
  try {
    stop = await startServing(config, log);
  } catch (e) {
    log.error({ err: (e as Error).message }, 'cannot serve the disks');
    announce({ ready: false, error: (e as Error).message });
    return 1;
  }
  announce({ ready: true, pid: process.pid });
  // The parent reads one line and goes; nothing must reach a closed pipe later.
  process.stdout.end();
  await new Promise<void>((resolve) => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.once(signal, () => resolve());
  });
  log.info('stopping');
  await stop();
  return 0;
}
