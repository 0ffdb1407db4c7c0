// The console's files (@tessera/console), made ready to serve once, on first use: the types of its
// TypeScript modules stripped with Node's own stripper (module.stripTypeScriptTypes, no bundler,
// no build output), their `./x.ts` imports renamed `./x.js`, a strong ETag per file from its
// bytes, and a version that names the set, so that every file but the page itself is served under
// `/console/assets/<version>/` and cached for a year: a changed file makes a new version, and
// the page, revalidated on every load, names it.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stripTypeScriptTypes } from 'node:module';
import { CONSOLE_ENTRY, CONSOLE_WEB_DIR, consoleFiles, type ConsoleFileKind } from '@tessera/console';

export interface ConsoleAsset {
  body: Buffer;
  contentType: string;
  /** A strong validator: the body's SHA-256, quoted. */
  etag: string;
}

export interface ConsoleAssets {
  /** The page at `/console/`, its asset references pointing at this version. */
  entry: ConsoleAsset;
  /** Names the asset set: a hash of every asset's name and bytes. */
  version: string;
  /** Every other file by its served name (`main.js`, `console.css`). */
  files: ReadonlyMap<string, ConsoleAsset>;
}

/** Where index.html names the version; replaced when the files are prepared. */
export const VERSION_PLACEHOLDER = '__CONSOLE_VERSION__';

const CONTENT_TYPES: Record<ConsoleFileKind, string> = {
  html: 'text/html; charset=utf-8',
  module: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};

/** A relative import's `.ts` ending, in a static import (`from './x.ts'`) or a dynamic one (`import('./x.ts')`). */
const RELATIVE_TS_IMPORT = /(\bfrom\s*|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"\n]*?)\.ts\2/g;
/** Any import of something that is not a relative path: the browser could not resolve it. */
const BARE_IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])(?!\.{1,2}\/)([^'"\n]*)\1/m;

export function loadConsoleAssets(dir: string = CONSOLE_WEB_DIR): ConsoleAssets {
  const files = new Map<string, ConsoleAsset>();
  let template: string | undefined;
  for (const file of consoleFiles(dir)) {
    const text = readFileSync(join(dir, file.source), 'utf8');
    if (file.source === CONSOLE_ENTRY) {
      template = text;
      continue;
    }
    const body = file.kind === 'module' ? Buffer.from(moduleSource(file.source, text)) : Buffer.from(text);
    files.set(file.served, asset(body, CONTENT_TYPES[file.kind]));
  }
  if (template === undefined) throw new Error(`the console has no ${CONSOLE_ENTRY} in ${dir}`);
  if (!template.includes(VERSION_PLACEHOLDER)) throw new Error(`the console's ${CONSOLE_ENTRY} does not name its assets' version (${VERSION_PLACEHOLDER})`);
  const setHash = createHash('sha256');
  for (const [name, file] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) setHash.update(`${name}\0${file.etag}\0`);
  const version = setHash.digest('hex').slice(0, 16);
  const entry = asset(Buffer.from(template.replaceAll(VERSION_PLACEHOLDER, version)), CONTENT_TYPES.html);
  return { entry, version, files };
}

/** A module as the browser gets it: types stripped (whitespace keeps every position), `.ts` imports renamed `.js`. */
export function moduleSource(name: string, typescript: string): string {
  let javascript: string;
  try {
    javascript = quietly(() => stripTypeScriptTypes(typescript, { mode: 'strip' }));
  } catch (error) {
    throw new Error(`the console's module ${name} cannot be served: ${(error as Error).message}`, { cause: error });
  }
  const bare = BARE_IMPORT.exec(javascript);
  if (bare) throw new Error(`the console's module ${name} imports '${bare[2] ?? ''}': a browser resolves relative imports only ('./x.ts')`);
  return javascript.replace(RELATIVE_TS_IMPORT, (_match, lead: string, quote: string, path: string) => `${lead}${quote}${path}.js${quote}`);
}

function asset(body: Buffer, contentType: string): ConsoleAsset {
  return { body, contentType, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

/**
 * Runs `strip` without the ExperimentalWarning Node prints the first time a process strips types
 * (every start, in every worker): the stripper is the one Node itself runs our sources with. Any
 * other warning raised meanwhile goes through.
 */
function quietly<T>(strip: () => T): T {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const message = typeof warning === 'string' ? warning : warning.message;
    if (message.includes('stripTypeScriptTypes')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return strip();
  } finally {
    process.emitWarning = emitWarning;
  }
}
