// Serves the simulated host's commands over a Unix socket, so a real sh (under a real sshd) can run them as programs.

import { createServer, type Server, type Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { shellJoin } from '../../util/shell-quote.js';
import { FRAME, FrameReader, frame } from './frames.js';

/** Runs one argv the way an SSH exec of its quoted line would on the simulated host (faults, command log, late). */
export type RunArgv = (argv: string[], io: { stdin: PassThrough; stdout: Writable; stderr: Writable; signal: AbortSignal; cwd: string }) => Promise<number>;

export interface CommandBridge {
  socketPath: string;
  close(): Promise<void>;
}

/** A writable that sends each chunk as a frame of `type`, honouring the socket's backpressure. */
function frameWriter(socket: Socket, type: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (socket.destroyed) return done();
      if (socket.write(frame(type, chunk))) done();
      else socket.once('drain', () => done());
    },
  });
}

function serve(socket: Socket, run: RunArgv): void {
  const stdin = new PassThrough();
  const controller = new AbortController();
  let started = false;
  socket.on('error', () => controller.abort());
  socket.on('close', () => {
    controller.abort();
    stdin.end();
  });
  const reader = new FrameReader((type, payload) => {
    if (type === FRAME.stdin) stdin.write(payload);
    else if (type === FRAME.stdinEnd) stdin.end();
    else if (type === FRAME.command && !started) {
      started = true;
      const { argv, cwd } = JSON.parse(payload.toString('utf8')) as { argv: string[]; cwd: string };
      const stdout = frameWriter(socket, FRAME.stdout);
      const stderr = frameWriter(socket, FRAME.stderr);
      void run(argv, { stdin, stdout, stderr, signal: controller.signal, cwd })
        .catch((error: unknown) => {
          stderr.write(`sh: internal error: ${(error as Error).message}\n`);
          return 1;
        })
        .then(async (status) => {
          await Promise.all([new Promise((r) => stdout.end(r)), new Promise((r) => stderr.end(r))]);
          const code = Buffer.alloc(4);
          code.writeInt32BE(status);
          if (!socket.destroyed) socket.end(frame(FRAME.exit, code));
        });
    }
  });
  socket.on('data', (chunk: Buffer) => reader.push(chunk));
}

/** Listens on `socketPath`; each connection runs one command. */
export async function startCommandBridge(socketPath: string, run: RunArgv): Promise<CommandBridge> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serve(socket, run);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    socketPath,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The command line the simulated shell is given for an argv a real sh has already split: quoted back word for word. */
export function lineFor(argv: readonly string[]): string {
  return shellJoin(argv);
}
