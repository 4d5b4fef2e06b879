// The NBD server's public surface: serve random-access readers as read-only NBD exports on a Unix socket.

export { serveNbd, DEFAULT_MAX_REQUEST_BYTES, type BlockSource, type NbdServer, type NbdServerOptions } from './server.js';
