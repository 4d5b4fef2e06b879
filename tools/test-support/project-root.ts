// Finds the project's root directory from any module under it, whether run from its .ts source or compiled into dist-tools/.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'vcbmounter';

/**
 * The nearest directory above this module whose package.json is vcbmounter's. Walked up rather than a
 * fixed `../..` because the same module runs from tools/ (vitest) and from dist-tools/tools/ (npm run bench).
 */
export function projectRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === PACKAGE_NAME) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json named ${PACKAGE_NAME} above ${from}`);
  }
}
