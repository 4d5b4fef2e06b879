// fsync of a file or directory by path (a directory's fsync makes the names in it durable).

import { open } from 'node:fs/promises';

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
