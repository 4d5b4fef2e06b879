// One SSH session per host for the whole run, opened on first use and shared by that host's VM backups.

import type { Logger } from '../log.js';
import { openHostSession, type HostSession } from '../workflow/connect.js';
import { listVmDetails, type VmListing } from '../workflow/vm-listing.js';
import type { LoadedJob } from './load.js';

export class HostPool {
  private readonly sessions = new Map<string, Promise<HostSession>>();

  constructor(
    private readonly loaded: LoadedJob,
    private readonly log: Logger,
    private readonly signal: AbortSignal,
    /** Tests and the embedded simulator open their own. */
    private readonly open: (host: string) => Promise<HostSession> = (host) => this.openFromFile(host),
  ) {}

  private openFromFile(host: string): Promise<HostSession> {
    const h = this.loaded.job.hosts[host]!;
    return openHostSession(
      {
        host: h.address,
        port: h.port,
        user: h.user,
        password: this.loaded.passwords.get(host),
        identityFile: h.identity,
        hostKey: h.hostKey,
        knownHosts: h.knownHosts,
        acceptNewHostKey: false,
        commandSet: h.commandSet,
      },
      this.log.child({ host }),
      this.signal,
    );
  }

  /**
   * The host's session; a failed open is not kept (the next VM tries again), and a connection that dropped is
   * opened again before it is handed out.
   */
  async session(host: string): Promise<HostSession> {
    let pending = this.sessions.get(host);
    if (!pending) {
      pending = this.open(host);
      this.sessions.set(host, pending);
      pending.catch(() => this.sessions.get(host) === pending && this.sessions.delete(host));
    }
    const session = await pending;
    if (!session.transport.isConnected()) await session.transport.reconnect();
    return session;
  }

  async listing(host: string): Promise<VmListing[]> {
    return listVmDetails((await this.session(host)).esx);
  }

  async closeAll(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map(async (p) => (await p.catch(() => undefined))?.transport.close().catch(() => {})));
  }
}
