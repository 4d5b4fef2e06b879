// The host session `cleanup` and `-U` open from the connection flags, only once a release needs it.

import type { Logger } from '../log.js';
import { openHostSession, type HostSession } from '../workflow/connect.js';
import { resolvePassword } from '../workflow/credentials.js';
import { hostFlags } from '../workflow/host-flags.js';
import { connectRetriesFlag } from './numeric-flags.js';

export interface LazyHost {
  /** Opens the session on first call (reads the password then), the same one afterwards. */
  host: () => Promise<HostSession>;
  /** How advice names the host (-h and --port as typed). */
  flags: string;
  close(): Promise<void>;
}

/**
 * A release that needs no host (a directory, a lock) must not wait for a login, nor fail because the host
 * is down: the connection is made when the first host release asks for it. No --accept-new-host-key: the
 * host must already be known or pinned.
 */
export function lazyHostFromFlags(flags: Record<string, unknown>, log: Logger): LazyHost {
  const target = { host: String(flags.host), port: Number(flags.port ?? 22) };
  let session: Promise<HostSession> | undefined;
  const open = async (): Promise<HostSession> => {
    const password = await resolvePassword({ password: flags.password as string | undefined, passwordFile: flags.passwordFile as string | undefined });
    return openHostSession(
      {
        ...target,
        user: String(flags.user ?? 'root'),
        password,
        identityFile: flags.identity as string | undefined,
        hostKey: flags.hostKey as string | undefined,
        knownHosts: flags.knownHosts as string | undefined,
        acceptNewHostKey: false,
        commandSet: 'auto',
        connectRetries: connectRetriesFlag(flags.connectRetries),
      },
      log,
    );
  };
  return {
    host: () => (session ??= open()),
    flags: hostFlags(target),
    close: async () => {
      const opened = await session?.catch(() => undefined);
      await opened?.transport.close().catch(() => {});
    },
  };
}
