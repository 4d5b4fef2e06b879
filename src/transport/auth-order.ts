// Which login method to try next: the key first, then the password once, by the one method the host offers for it.

import type { AuthenticationType, AuthHandlerMiddleware } from 'ssh2';

export interface AuthOrder {
  handler: AuthHandlerMiddleware;
  /** Methods tried so far, for the message of a refused login. */
  tried(): string[];
}

/**
 * ssh2's own order sends the password with every method it knows, whatever the host offers: on a host with
 * password logins off (ESXi) that is a refused attempt before keyboard-interactive, and where both are on, a
 * wrong password is refused twice. Each counts toward the host's MaxAuthTries and its account lockout, so the
 * password goes out once, by `password` where offered, else by `keyboard-interactive` (ESXi's default).
 */
export function authOrder(credentials: { key: boolean; password: boolean }): AuthOrder {
  const tried: string[] = [];
  let probed = false;
  let passwordSent = false;
  const handler: AuthHandlerMiddleware = (authsLeft, _partialSuccess, next) => {
    if (!probed) {
      // "none" only asks the host which methods it offers; OpenSSH does not count it as a failed attempt.
      probed = true;
      return next('none');
    }
    const offered = new Set<AuthenticationType>(authsLeft ?? []);
    if (credentials.key && offered.has('publickey') && !tried.includes('publickey')) {
      tried.push('publickey');
      return next('publickey');
    }
    if (credentials.password && !passwordSent) {
      const method = offered.has('password') ? 'password' : offered.has('keyboard-interactive') ? 'keyboard-interactive' : undefined;
      if (method) {
        passwordSent = true;
        tried.push(method);
        return next(method);
      }
    }
    next(false as unknown as AuthenticationType);
  };
  return { handler, tried: () => [...tried] };
}
