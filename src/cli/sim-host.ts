// The -h spellings that select the embedded simulated host; kept apart so a real backup never loads the simulator.

export function isSimHost(host: string): boolean {
  return host === 'sim' || host === 'sim:demo' || host === 'simulator';
}
