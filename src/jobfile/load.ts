// Reads a job file (YAML or JSON), validates it, and resolves its credential references: every error names the
// place in the file, the bad value and what is allowed, before any host is contacted.

import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { VcbError } from '../errors.js';
import { errnoInWords } from '../util/errno-words.js';
import { resolvePassword } from '../workflow/credentials.js';
import { jobFileSchema, type HostEntry, type JobFile } from './schema.js';
import { checkDestinationTemplate } from './destination.js';
import { checkTerms } from './select.js';

export interface LoadedJob {
  /** Absolute path of the job file. */
  path: string;
  job: JobFile;
  /** Per host name: the password, resolved from its reference (never logged). */
  passwords: Map<string, string | undefined>;
}

/** `vms[1].select[0]`, as a user finds it in the file. */
export function pathText(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out;
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function shown(v: unknown): string {
  const text = JSON.stringify(v);
  return text === undefined ? String(v) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** One zod issue in the file's terms: where, what was there, what is allowed. */
function issueText(file: string, data: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    const where = pathText(issue.path);
    return `${file}: ${issue.keys.map((k) => (where ? `${where}.${k}` : k)).join(', ')}: not a known setting here (a typo?)`;
  }
  const where = pathText(issue.path) || '(top level)';
  const value = valueAt(data, issue.path);
  const allowed = issue.code === 'invalid_value' ? `: expected one of ${issue.values.map((x) => JSON.stringify(x)).join(', ')}` : `: ${issue.message}`;
  return value === undefined ? `${file}: ${where}: missing${issue.code === 'invalid_type' ? ` (${issue.message})` : allowed}` : `${file}: ${where}: ${shown(value)}${allowed}`;
}

function parseText(file: string, text: string): unknown {
  if (/\.json$/i.test(file)) {
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new VcbError('USAGE', `${file}: not valid JSON: ${(e as Error).message}`);
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0] ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    throw new VcbError('USAGE', `${file}: not valid YAML${at}: ${e.message.split('\n')[0]}`);
  }
  return doc.toJS() as unknown;
}

/** Cross-field rules zod's shape cannot say: hosts that exist, a destination per backup, option combinations. */
function checkReferences(file: string, job: JobFile): void {
  const hostNames = Object.keys(job.hosts);
  job.vms.forEach((entry, i) => {
    if (!job.hosts[entry.host]) {
      throw new VcbError('USAGE', `${file}: vms[${i}].host: ${shown(entry.host)} is not under hosts (hosts: ${hostNames.join(', ') || 'none'})`);
    }
    checkTerms(`${file}: vms[${i}].select`, entry.select);
    checkTerms(`${file}: vms[${i}].exclude`, entry.exclude);
    const s = { ...job.defaults, ...entry };
    const where = entry.destination !== undefined ? `vms[${i}].destination` : 'defaults.destination';
    if (s.stream) {
      if (!s.agent && !s.agentPreset) throw new VcbError('USAGE', `${file}: vms[${i}]: stream needs agent or agentPreset (the program the export is streamed into)`);
      return;
    }
    if (s.type === 'file' && !s.agent && !s.agentPreset) {
      throw new VcbError('USAGE', `${file}: vms[${i}]: type file needs agent or agentPreset: a job mounts the volumes for a backup program and takes them down after it (nothing may stay mounted for nobody)`);
    }
    if (s.destination === undefined) throw new VcbError('USAGE', `${file}: vms[${i}]: no destination (set defaults.destination, e.g. /backup/{host}/{vm}/{time})`);
    checkDestinationTemplate(`${file}: ${where}`, s.destination, s.type ?? 'fullvm');
  });
}

function readPrivateEnough(file: string): void {
  const mode = statSync(file).mode;
  if (mode & 0o077) {
    throw new VcbError('USAGE', `mode ${(mode & 0o777).toString(8)}`);
  }
}

/** The host's password from its reference, or undefined for key-only logins. */
async function hostPassword(file: string, name: string, h: HostEntry, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const at = `${file}: hosts.${name}`;
  if (h.passwordFile !== undefined) {
    try {
      return await resolvePassword({ passwordFile: resolve(h.passwordFile), env: {} });
    } catch (e) {
      throw new VcbError('USAGE', `${at}.passwordFile: ${(e as Error).message.replace(/^--password-file \S+:? ?/, '')}`);
    }
  }
  if (h.passwordEnv !== undefined) {
    const v = env[h.passwordEnv];
    if (!v) throw new VcbError('USAGE', `${at}.passwordEnv: the environment variable ${h.passwordEnv} is ${v === undefined ? 'not set' : 'empty'}`);
    return v;
  }
  if (h.password !== undefined) {
    try {
      readPrivateEnough(file);
    } catch (e) {
      throw new VcbError('USAGE', `${at}.password: an inline password needs the job file readable by its owner alone (it is ${(e as Error).message}): chmod 600 ${file}, or use passwordFile / passwordEnv`);
    }
    return h.password;
  }
  return undefined;
}

function checkReadable(at: string, path: string): void {
  try {
    readFileSync(path);
  } catch (e) {
    throw new VcbError('USAGE', `${at}: ${path}: ${errnoInWords(e, (code) => `cannot read it (${code ?? (e as Error).message})`)}`);
  }
}

/** Parses and validates the text of a job file (`file` names it in messages). */
export function parseJobText(file: string, text: string): JobFile {
  const data = parseText(file, text);
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new VcbError('USAGE', `${file}: expected a mapping with hosts:, vms: and the rest at the top level`);
  const parsed = jobFileSchema.safeParse(data);
  if (!parsed.success) throw new VcbError('USAGE', issueText(file, data, parsed.error.issues[0]!));
  checkReferences(file, parsed.data);
  return parsed.data;
}

/** Reads, validates and resolves a job file; throws USAGE (exit 2) for anything wrong in it. */
export async function loadJobFile(file: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedJob> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new VcbError('USAGE', `job file ${file}: ${errnoInWords(e, (code) => `cannot read it (${code ?? (e as Error).message})`)}`);
  }
  const job = parseJobText(file, text);
  const passwords = new Map<string, string | undefined>();
  for (const [name, h] of Object.entries(job.hosts)) {
    passwords.set(name, await hostPassword(file, name, h, env));
    if (h.identity) checkReadable(`${file}: hosts.${name}.identity`, h.identity);
    if (h.knownHosts) checkReadable(`${file}: hosts.${name}.knownHosts`, h.knownHosts);
  }
  return { path, job, passwords };
}
