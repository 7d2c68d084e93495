import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * A spec file's path as a reviewer knows it: relative to the root of the git repository holding it
 * (found by its `.git`), else to the CI workspace, else as given. A pull-request comment then says
 * `clusters/prod.yaml`, not `/home/runner/work/infra/infra/clusters/prod.yaml`.
 */
export function repositoryPath(file: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string {
  const absolute = path.resolve(cwd, file);
  const root = gitRoot(path.dirname(absolute)) ?? [env.GITHUB_WORKSPACE, env.CI_PROJECT_DIR].find((dir) => dir && inside(absolute, path.resolve(dir)));
  if (root === undefined) return file;
  return path.relative(root, absolute).split(path.sep).join('/');
}

function gitRoot(start: string): string | undefined {
  for (let dir = start; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, '.git'))) return dir;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function inside(file: string, dir: string): boolean {
  const relative = path.relative(dir, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}
