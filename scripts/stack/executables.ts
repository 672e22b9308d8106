// Finding the programs the local stack runs: on PATH first, then in the places their packages put them.
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The absolute path of `name` on PATH, else in one of extraDirs (e.g. /usr/sbin, often missing from a user's PATH). */
export function findExecutable(name: string, extraDirs: string[] = []): string | undefined {
  const onPath = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', name], { encoding: 'utf8' }).stdout.trim();
  if (onPath.startsWith('/')) return onPath;
  return extraDirs.map((dir) => path.join(dir, name)).find(isExecutable);
}
