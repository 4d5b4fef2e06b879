// Public face of the transport layer.

export * from './types.js';
export { connectSsh, SshTransport } from './ssh.js';
export type { SshConnectOptions, TransportLogger, HostKeyPolicy } from './ssh.js';
export { withReconnect } from './reconnect.js';
export { fingerprintSha256, fingerprintMd5 } from './fingerprint.js';
