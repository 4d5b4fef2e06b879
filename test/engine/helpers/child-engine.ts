// Compiles the engine into a temp dir (TypeScript transpile only, no dist/ needed) and runs child scripts against it.

import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type ChildProcess } from 'node:child_process';
import ts from 'typescript';

const srcDir = resolve(dirname(fileURLToPath(import.meta.url)), '../../../src');

/**
 * Transpiles src/errors.ts, src/engine/*.ts and src/util/*.ts (the engine's only imports) from the working
 * tree into a fresh temp dir (as `<dir>/errors.js`, `<dir>/engine/*.js`, `<dir>/util/*.js`, with a
 * type:module package.json and a link to the project's node_modules) so child processes run
 * the code under test even when dist/ is stale or other modules do not typecheck. Returns the dir.
 */
export function compileEngine(): string {
  const out = mkdtempSync(join(tmpdir(), 'vcb-engine-'));
  mkdirSync(join(out, 'engine'));
  mkdirSync(join(out, 'util'));
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  // The engine's npm dependencies (p-timeout) resolve from the project's node_modules.
  symlinkSync(join(srcDir, '..', 'node_modules'), join(out, 'node_modules'), 'dir');
  const inFolder = (folder: string) => readdirSync(join(srcDir, folder)).filter((f) => f.endsWith('.ts')).map((f) => `${folder}/${f}`);
  const sources = ['errors.ts', ...inFolder('engine'), ...inFolder('util')];
  for (const rel of sources) {
    const { outputText } = ts.transpileModule(readFileSync(join(srcDir, rel), 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: rel,
    });
    writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), outputText);
  }
  return out;
}

export interface Child {
  process: ChildProcess;
  /** Resolves with the first stdout line equal to `line` (rejects if the child exits first). */
  waitForLine(line: string): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
}

/** Writes `script` as an .mjs next to the compiled engine and runs it with node. */
export function spawnScript(engineDir: string, name: string, script: string, args: string[] = []): Child {
  const file = join(engineDir, `${name}.mjs`);
  writeFileSync(file, script);
  const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ line: string; resolve: () => void; reject: (e: Error) => void }> = [];
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    const lines = stdout.split('\n');
    for (const w of [...waiters]) {
      if (lines.includes(w.line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((res) => {
    child.on('close', (code, signal) => {
      for (const w of waiters) w.reject(new Error(`child exited (${code ?? signal}) before printing "${w.line}"; stderr: ${stderr}`));
      res({ code, signal, stdout, stderr });
    });
  });
  return {
    process: child,
    exited,
    waitForLine: (line) =>
      stdout.split('\n').includes(line)
        ? Promise.resolve()
        : new Promise<void>((res, rej) => waiters.push({ line, resolve: res, reject: rej })),
  };
}
