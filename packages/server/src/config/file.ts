// The JSON config file. Its keys mirror the Config shape; an unknown key is an error rather than
// something skipped, because a misspelt `maxLifetme` would otherwise leave the default in force
// without anyone noticing.

import { readFileSync } from 'node:fs';
import { closest } from './did-you-mean.ts';
import { SETTING_KEYS } from './sources.ts';
import type { Layer, RawValue, SettingKey } from './sources.ts';
import { got } from './values.ts';

/** `pathSource` is where the path itself came from (`--config` or `TESSERA_CONFIG`). */
export function readConfigFile(path: string, pathSource: string, problems: string[]): Layer {
  const layer = new Map<SettingKey, RawValue>();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    problems.push(`${pathSource}: cannot read the config file ${path}: ${readFailure(error)}`);
    return layer;
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    problems.push(`${path}: not valid JSON: ${(error as Error).message}`);
    return layer;
  }
  if (!isObject(document)) {
    problems.push(`${path}: expected a JSON object of settings, ${got(document)}`);
    return layer;
  }
  collect(document, '', path, layer, problems);
  return layer;
}

function collect(object: Record<string, unknown>, prefix: string, path: string, layer: Map<SettingKey, RawValue>, problems: string[]): void {
  for (const [name, value] of Object.entries(object)) {
    const key = prefix + name;
    if (isSettingKey(key)) {
      layer.set(key, { key, value, origin: { kind: 'file', path } });
    } else if (childrenOf(`${key}.`).length > 0) {
      if (isObject(value)) collect(value, `${key}.`, path, layer, problems);
      else problems.push(`${path}: ${key}: expected an object with ${childrenOf(`${key}.`).join(', ')}, ${got(value)}`);
    } else if (key === 'masterKey') {
      problems.push(
        `${path}: masterKey: the master key is not read from a config file (config files get copied and committed); ` +
          'set TESSERA_MASTER_KEY, or masterKeyFile to a file holding it',
      );
    } else {
      problems.push(`${path}: unknown setting "${key}"${suggestion(prefix, name)}`);
    }
  }
}

function suggestion(prefix: string, name: string): string {
  const sibling = closest(name, childrenOf(prefix));
  if (sibling !== undefined) return ` (did you mean "${prefix}${sibling}"?)`;
  // The right name at the wrong depth: `"maxLifetime"` at the top level instead of inside `tokens`.
  const leaves = SETTING_KEYS.map((key) => key.split('.').at(-1)!);
  const leaf = closest(name, leaves);
  if (leaf === undefined) return '';
  const key = SETTING_KEYS[leaves.indexOf(leaf)]!;
  const group = key.includes('.') ? key.slice(0, key.lastIndexOf('.')) : undefined;
  return ` (did you mean "${leaf}" ${group === undefined ? 'at the top level' : `inside "${group}"`}?)`;
}

/** Names directly under a prefix (`''` for the top level, `'tokens.'` for the tokens group). */
function childrenOf(prefix: string): string[] {
  const names = SETTING_KEYS.filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length).split('.')[0]!);
  return [...new Set(names)];
}

function isSettingKey(key: string): key is SettingKey {
  return (SETTING_KEYS as readonly string[]).includes(key);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why a file could not be read, in a few words (`no such file`). */
export function readFailure(error: unknown): string {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'it is a directory';
    default:
      return (error as Error).message;
  }
}
