// A simulated host command as a program: sends its argv, cwd and stdin over the bridge socket, relays output and status.
// Run as: node shim.js SOCKET NAME [ARGS...]; a per-command sh wrapper on the real host's PATH supplies SOCKET and NAME.

import { connect } from 'node:net';
import { FRAME, FrameReader, frame } from './frames.js';

const [socketPath, name, ...args] = process.argv.slice(2);
if (!socketPath || !name) {
  process.stderr.write('usage: shim SOCKET NAME [ARGS...]\n');
  process.exit(2);
}

const socket = connect(socketPath);
let status = 1;
socket.on('error', (error) => {
  process.stderr.write(`${name}: simulated host unreachable: ${error.message}\n`);
  process.exit(126);
});
socket.on('connect', () => {
  socket.write(frame(FRAME.command, JSON.stringify({ argv: [name, ...args], cwd: process.cwd() })));
  process.stdin.on('data', (chunk: Buffer) => {
    if (!socket.write(frame(FRAME.stdin, chunk))) {
      process.stdin.pause();
      socket.once('drain', () => process.stdin.resume());
    }
  });
  process.stdin.on('end', () => socket.write(frame(FRAME.stdinEnd)));
  process.stdin.on('error', () => socket.write(frame(FRAME.stdinEnd)));
});
const reader = new FrameReader((type, payload) => {
  const out = type === FRAME.stdout ? process.stdout : type === FRAME.stderr ? process.stderr : undefined;
  if (out) {
    if (!out.write(payload)) {
      socket.pause();
      out.once('drain', () => socket.resume());
    }
  } else if (type === FRAME.exit) {
    status = payload.readInt32BE(0);
  }
});
socket.on('data', (chunk: Buffer) => reader.push(chunk));
socket.on('end', () => {
  // Every frame is in; exit once our output has been handed to the pipes.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
});
