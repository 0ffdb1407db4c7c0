// What the server needs to serve the console: where its browser files are and which of them it
// serves under which name. The browser code is TypeScript with erasable syntax only; the server
// strips the types once, on the first console request (packages/server/src/console/), and serves
// ES modules, so the repository holds no build output and the browser loads nothing from anywhere else.

import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder of the browser files (`web/` beside `src/` and `dist/`). */
export const CONSOLE_WEB_DIR = fileURLToPath(new URL('../web/', import.meta.url));

/** The page the server answers at `/console/`; it names the other files under `assets/<version>/`. */
export const CONSOLE_ENTRY = 'index.html';

export type ConsoleFileKind = 'html' | 'module' | 'css' | 'svg';

export interface ConsoleFile {
  /** Path under CONSOLE_WEB_DIR, `/`-separated (`pages/domains.ts`). */
  source: string;
  /** Name the browser asks for (`pages/domains.js`): a module's `.ts` is served as `.js`. */
  served: string;
  kind: ConsoleFileKind;
}

const KINDS: ReadonlyArray<readonly [string, ConsoleFileKind]> = [
  ['.html', 'html'],
  ['.ts', 'module'],
  ['.css', 'css'],
  ['.svg', 'svg'],
];

/** Every file the console serves, sorted by source path; the folder's other files (its tsconfig.json) are not served. */
export function consoleFiles(dir: string = CONSOLE_WEB_DIR): ConsoleFile[] {
  const files: ConsoleFile[] = [];
  for (const entry of readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    const source = entry.split(/[\\/]/).join('/');
    if (source.endsWith('.d.ts')) continue;
    const kind = KINDS.find(([extension]) => source.endsWith(extension))?.[1];
    if (kind === undefined) continue;
    files.push({ source, served: kind === 'module' ? `${source.slice(0, -3)}.js` : source, kind });
  }
  return files.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
}
