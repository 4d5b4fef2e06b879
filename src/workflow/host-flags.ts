// How advice names the host: the -h (and --port) the user typed, so the command it suggests finds the same journal entries.

export function hostFlags(o: { host: string; port: number }): string {
  return o.port === 22 ? o.host : `${o.host} --port ${o.port}`;
}

/** How logs, journals and hooks name the host: host, or host:port when not 22. */
export function hostLabel(o: { host: string; port: number }): string {
  return o.port === 22 ? o.host : `${o.host}:${o.port}`;
}
