// The sshd_config a simulated host runs with: its kind's stock settings, then the inventory's overrides.

import type { Inventory } from './inventory.js';
import type { SshdPolicy } from './ssh-server.js';

/**
 * ESXi's sshd takes passwords only by keyboard-interactive (PasswordAuthentication no, PAM behind
 * KbdInteractiveAuthentication); ESX 3.x's service console sshd also takes plain password logins. Both refuse an
 * eleventh session on one connection (OpenSSH's MaxSessions) and close a connection left without a session for
 * five minutes, as firewalls in front of hosts and newer sshd (UnusedConnectionTimeout) do.
 */
export function sshdPolicyFor(host: Inventory['host']): SshdPolicy {
  const stock: SshdPolicy =
    host.kind === 'esxi'
      ? { authMethods: ['publickey', 'keyboard-interactive'], maxSessions: 10, unusedConnectionTimeoutMs: 300_000 }
      : { authMethods: ['publickey', 'password', 'keyboard-interactive'], maxSessions: 10, unusedConnectionTimeoutMs: 300_000 };
  const ssh = host.ssh ?? {};
  return {
    authMethods: ssh.authMethods ?? stock.authMethods,
    maxSessions: ssh.maxSessions ?? stock.maxSessions,
    unusedConnectionTimeoutMs: ssh.unusedConnectionTimeout !== undefined ? ssh.unusedConnectionTimeout * 1000 : stock.unusedConnectionTimeoutMs,
  };
}
