// The connection flags (flags.ts withConnectionOptions) as the options schemas take them, and the password from its sources.

import { promptPassword, resolvePassword } from '../workflow/credentials.js';

/** The password from -p, -p -, --password-file or the environment, else asked on a terminal (not with -i KEYFILE). */
export function passwordFromFlags(flags: Record<string, unknown>): Promise<string | undefined> {
  const label = `${String(flags.user ?? 'root')}@${String(flags.host)}`;
  return resolvePassword({
    password: flags.password as string | undefined,
    passwordFile: flags.passwordFile as string | undefined,
    prompt: flags.identity ? undefined : () => promptPassword(label),
  });
}

/** The fields of workflow/host-connection-schema.ts, from the flags, with the password already resolved. */
export function connectionInput(flags: Record<string, unknown>, password: string | undefined): Record<string, unknown> {
  return {
    host: flags.host,
    port: flags.port,
    user: flags.user,
    password,
    identityFile: flags.identity,
    hostKey: flags.hostKey,
    knownHosts: flags.knownHosts,
    acceptNewHostKey: Boolean(flags.acceptNewHostKey),
    commandSet: flags.commandSet,
  };
}
