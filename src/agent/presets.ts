// The restic and borg presets of --agent-preset: their argv for a disk image or a mounted tree, and the environment they need.

import { VcbError } from '../errors.js';
import type { AgentValues } from './run-agent.js';

export const AGENT_PRESETS = ['restic', 'borg'] as const;
export type AgentPreset = (typeof AGENT_PRESETS)[number];

/** Each preset's repository and secret come from the tool's own variables, never from vcbmounter's argv or the agent's. */
const NEEDS: Record<AgentPreset, { repository: string[]; secret: string[]; secretOptional: boolean }> = {
  restic: { repository: ['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE'], secret: ['RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_PASSWORD'], secretOptional: false },
  // An unencrypted borg repository needs no passphrase; an encrypted one without one fails in borg with its own message.
  borg: { repository: ['BORG_REPO'], secret: ['BORG_PASSCOMMAND', 'BORG_PASSPHRASE', 'BORG_PASSPHRASE_FD'], secretOptional: true },
};

/** Refuses a preset whose repository (or restic's password) is not in the environment, before anything is contacted. */
export function checkPresetEnv(preset: AgentPreset, env: NodeJS.ProcessEnv = process.env): void {
  const need = NEEDS[preset];
  const set = (names: string[]) => names.some((n) => (env[n] ?? '') !== '');
  const missing = [!set(need.repository) && `the repository (${need.repository.join(' or ')})`, !need.secretOptional && !set(need.secret) && `the password (${need.secret.join(' or ')})`].filter(Boolean);
  if (missing.length) {
    throw new VcbError('USAGE', `--agent-preset ${preset}: set ${missing.join(' and ')} in the environment, as ${preset} itself takes them; vcbmounter never passes them on a command line`);
  }
}

/** restic's --tag splits at commas, so a VM name's commas become underscores there. restic's --time takes local time as "YYYY-MM-DD HH:MM:SS". */
function resticTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** An archive name borg accepts: no "/" and no "::"; the VM and the snapshot time (UTC) make it unique per backup. */
export function borgArchiveName(v: AgentValues): string {
  const stamp = v.time.replace(/\.\d+Z$/, 'Z').replace(/[-:]/g, '');
  return `${v.vm.replace(/[/:]/g, '_')}-${stamp}`;
}

/** The tar's name in the repository with --stream: the VM's name, made a safe file name. */
export function streamName(vm: string): string {
  return `${vm.replace(/[/\\:]/g, '_')}.tar`;
}

/**
 * The agent's argv; with `stream`, the export arrives on its stdin as one tar of that name. A fullvm
 * export is a few large sparse disk images: borg cuts them into fixed 4 MiB
 * chunks (a changed block then changes one chunk, and holes are skipped with --sparse); restic's
 * content-defined chunks already realign. A -t file mount is read through `digits/` only: every volume is
 * there once (letters/ and names/ are other views of the same volumes).
 */
export function presetArgv(preset: AgentPreset, v: AgentValues, input: { stream?: string } = {}): string[] {
  const tree = v.type === 'file' ? `${v.dir}/digits` : v.dir;
  if (preset === 'restic') {
    const what = input.stream ? ['--stdin', '--stdin-filename', input.stream] : [tree];
    return ['restic', 'backup', '--quiet', '--tag', 'vcbmounter', '--tag', `vm=${v.vm.replace(/,/g, '_')}`, '--tag', `type=${v.type}`, '--time', resticTime(v.time), ...what];
  }
  // A stream's tar headers change every night (times, sizes of the small files): borg's content-defined
  // chunks confine each change to one chunk, where fixed chunks would change whole 4 MiB pieces.
  const image = v.type === 'fullvm' && !input.stream ? ['--chunker-params', 'fixed,4194304', '--sparse'] : [];
  const what = input.stream ? ['--stdin-name', input.stream] : [];
  return ['borg', 'create', '--stats', ...image, ...what, '--timestamp', v.time.replace(/\.\d+Z$/, '').replace(/Z$/, ''), '--comment', `vcbmounter vm=${v.vm} type=${v.type} host=${v.host}`, `::${borgArchiveName(v)}`, input.stream ? '-' : tree];
}
