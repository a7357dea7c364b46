import fs from 'node:fs';
import path from 'node:path';

/** Where package.json is, whether this runs from the sources or from dist/. */
function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

export const packageRoot = findRoot(__dirname);
export const packageVersion: string = (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;

/** True when this is the compiled code in dist/ (its workflow bundle is there too). */
export const compiled = __filename.endsWith('.js');
