// Where the master key comes from: TESSERA_MASTER_KEY, or a file that the first start of an
// embedded deployment generates. Commands that work on an existing deployment (recover-admin,
// backup) read it without ever generating one: a new key would not open anything stored.

import { readFile, writeFile } from 'node:fs/promises';
import type { Config } from '../config/config.ts';
import { generateMasterKey, parseMasterKey } from './master-key.ts';

export async function readMasterKey(source: Config['masterKey'], options: { generate: boolean }): Promise<Buffer> {
  if (source.source === 'env') return parseMasterKey(source.value, 'TESSERA_MASTER_KEY');
  try {
    return parseMasterKey(await readFile(source.path, 'utf8'), source.path);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (!missing) throw error;
    if (!source.generate || !options.generate) throw new Error(`master key file ${source.path} does not exist`);
  }
  const key = generateMasterKey();
  try {
    // 'wx': if two starts race on one data dir, the second reads the first one's key.
    await writeFile(source.path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return parseMasterKey(await readFile(source.path, 'utf8'), source.path);
    throw error;
  }
}
