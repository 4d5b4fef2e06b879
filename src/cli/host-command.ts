// What the script commands (`list`, `snapshot ...`) share: their common flags, logging, and a host session opened from the connection flags.

import { Command, Option } from 'commander';
import { VcbError } from '../errors.js';
import type { Logger } from '../log.js';
import { openHostSession, type HostSession } from '../workflow/connect.js';
import { passwordFromFlags } from './connection-input.js';
import { connectRetriesFlag, seconds } from './numeric-flags.js';
import { withConnectionOptions } from './flags.js';

export { startCommandLog, type CommandOutcome } from './command-log.js';

/** The connection flags plus what every script command takes. */
export function withScriptCommandOptions(cmd: Command, hostHelp: string): Command {
  return withConnectionOptions(cmd, hostHelp)
    .option('--accept-new-host-key', 'record an unknown host key in known_hosts (a changed key is still refused)')
    .addOption(new Option('--command-set <set>', 'host commands to use (auto: detect them)').choices(['auto', 'vim-cmd', 'vmware-cmd']).default('auto'))
    .addOption(new Option('--command-timeout <seconds>', 'give up on a host command that sends nothing for this long').default('300', '300 s'))
    .option('--json', 'print JSON on stdout')
    .option('-L, --log-level <0-6>', 'log verbosity on stderr', '2')
    .option('--log-file <file>', 'write logs to this file instead of stderr')
    .helpOption('--help');
}

/** Logs in with the connection flags (prompting for the password on a terminal when no other source gives one). */
export async function sessionFromFlags(flags: Record<string, unknown>, log: Logger, command: string): Promise<HostSession> {
  if (!flags.host) throw new VcbError('USAGE', `${command} needs -h HOST (see vcbmounter ${command} --help)`);
  const host = String(flags.host);
  const user = String(flags.user ?? 'root');
  const password = await passwordFromFlags(flags);
  return openHostSession(
    {
      host,
      port: Number(flags.port ?? 22),
      user,
      password,
      identityFile: flags.identity as string | undefined,
      hostKey: flags.hostKey as string | undefined,
      knownHosts: flags.knownHosts as string | undefined,
      acceptNewHostKey: Boolean(flags.acceptNewHostKey),
      commandSet: (flags.commandSet as 'auto' | 'vim-cmd' | 'vmware-cmd' | undefined) ?? 'auto',
      commandTimeoutMs: seconds(flags.commandTimeout ?? '300', '--command-timeout'),
      connectRetries: connectRetriesFlag(flags.connectRetries),
    },
    log,
  );
}

/** Runs `fn` with a session and closes it however `fn` ends. */
export async function withSession<T>(flags: Record<string, unknown>, log: Logger, command: string, fn: (s: HostSession) => Promise<T>): Promise<T> {
  const session = await sessionFromFlags(flags, log, command);
  try {
    return await fn(session);
  } finally {
    await session.transport.close().catch(() => {});
  }
}

/** Pads each column to its widest cell; the last column is not padded. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A name as a table shows it: as is, unless it holds control characters (a newline would break the rows), then JSON-quoted. */
export function cell(text: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(text) ? JSON.stringify(text) : text;
}
