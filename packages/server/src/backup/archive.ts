// A backup file is a POSIX tar archive (ustar, regular files only), so `tar tf` lists it and
// `tar xf` unpacks it without Tessera. Written and read here rather than with a dependency: the
// subset needed (names under 100 bytes, files under 8 GiB) is a 512-byte header per file.
//
// Entries are streamed, never held whole in memory: the database can be large.

import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

const BLOCK = 512;
/** The size field holds 11 octal digits. */
const MAX_ENTRY_BYTES = 8 ** 11 - 1;

export class ArchiveFormatError extends Error {}

export interface ArchiveEntry {
  name: string;
  size: number;
  /** Offset of the entry's first data byte in the archive. */
  offset: number;
}

/** Appends tar entries to an open file, sequentially from position 0. */
export class ArchiveWriter {
  private readonly file: FileHandle;
  private position = 0;

  constructor(file: FileHandle) {
    this.file = file;
  }

  async addBytes(name: string, data: Uint8Array, mtime: Date): Promise<void> {
    await this.write(header(name, data.length, mtime));
    await this.write(data);
    await this.pad(data.length);
  }

  /** Copies a file that nobody writes meanwhile (the snapshot), `size` bytes of it. */
  async addFile(name: string, path: string, size: number, mtime: Date): Promise<void> {
    await this.write(header(name, size, mtime));
    let copied = 0;
    for await (const chunk of createReadStream(path)) {
      const bytes = chunk as Buffer;
      copied += bytes.length;
      await this.write(bytes);
    }
    if (copied !== size) throw new Error(`${path} changed size while it was archived (${size} → ${copied} bytes)`);
    await this.pad(size);
  }

  /** The two zero blocks that end a tar archive. */
  async finish(): Promise<number> {
    await this.write(Buffer.alloc(BLOCK * 2));
    return this.position;
  }

  private async pad(size: number): Promise<void> {
    const rest = size % BLOCK;
    if (rest !== 0) await this.write(Buffer.alloc(BLOCK - rest));
  }

  private async write(data: Uint8Array): Promise<void> {
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.file.write(data, done, data.length - done, this.position + done);
      done += bytesWritten;
    }
    this.position += data.length;
  }
}

function header(name: string, size: number, mtime: Date): Buffer {
  if (Buffer.byteLength(name) > 99) throw new Error(`archive entry name too long: ${name}`);
  if (size > MAX_ENTRY_BYTES) throw new Error(`${name} is larger than a backup entry can hold (8 GiB)`);
  const block = Buffer.alloc(BLOCK);
  block.write(name, 0, 'utf8');
  block.write('0000600\0', 100, 'ascii');
  block.write('0000000\0', 108, 'ascii');
  block.write('0000000\0', 116, 'ascii');
  block.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  block.write(
    `${Math.floor(mtime.getTime() / 1000)
      .toString(8)
      .padStart(11, '0')}\0`,
    136,
    'ascii',
  );
  block.write('0', 156, 'ascii');
  block.write('ustar\0' + '00', 257, 'ascii');
  block.write(`${checksum(block).toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

/** The sum of the header's bytes with the checksum field counted as spaces. */
function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i += 1) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum;
}

/** Lists the entries of an archive, checking every header; data is not read. */
export async function listEntries(file: FileHandle): Promise<ArchiveEntry[]> {
  const { size: total } = await file.stat();
  const entries: ArchiveEntry[] = [];
  const block = Buffer.alloc(BLOCK);
  for (let position = 0; ;) {
    if (position + BLOCK > total) throw new ArchiveFormatError('the archive ends before its end marker: the file is truncated');
    await readExactly(file, block, position);
    if (block.every((byte) => byte === 0)) return entries;
    const entry = parseHeader(block, position + BLOCK);
    if (entry.offset + entry.size > total) throw new ArchiveFormatError(`${entry.name} runs past the end of the file: the file is truncated`);
    entries.push(entry);
    position = entry.offset + Math.ceil(entry.size / BLOCK) * BLOCK;
  }
}

function parseHeader(block: Buffer, offset: number): ArchiveEntry {
  if (block.toString('ascii', 257, 262) !== 'ustar') throw new ArchiveFormatError('not a tar archive');
  const stored = parseOctal(block, 148, 8);
  if (stored !== checksum(block)) throw new ArchiveFormatError('a tar header is damaged (its checksum does not match)');
  const type = block.toString('ascii', 156, 157);
  const name = block.toString('utf8', 0, 100).replace(/\0.*$/s, '');
  if (type !== '0' && type !== '\0') throw new ArchiveFormatError(`${name} is not a regular file`);
  return { name, size: parseOctal(block, 124, 12), offset };
}

function parseOctal(block: Buffer, start: number, length: number): number {
  const text = block
    .toString('ascii', start, start + length)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (!/^[0-7]+$/.test(text)) throw new ArchiveFormatError('a tar header is damaged (a number field is not octal)');
  return Number.parseInt(text, 8);
}

export async function readEntry(file: FileHandle, entry: ArchiveEntry): Promise<Buffer> {
  const data = Buffer.alloc(entry.size);
  await readExactly(file, data, entry.offset);
  return data;
}

/** Hands the entry's data to `sink` in chunks (hashing, copying) without holding it whole. */
export async function streamEntry(file: FileHandle, entry: ArchiveEntry, sink: (chunk: Buffer) => Promise<void> | void): Promise<void> {
  const chunk = Buffer.alloc(1 << 20);
  for (let done = 0; done < entry.size;) {
    const length = Math.min(chunk.length, entry.size - done);
    const { bytesRead } = await file.read(chunk, 0, length, entry.offset + done);
    if (bytesRead === 0) throw new ArchiveFormatError(`${entry.name} ends early: the file is truncated`);
    await sink(chunk.subarray(0, bytesRead));
    done += bytesRead;
  }
}

async function readExactly(file: FileHandle, into: Buffer, position: number): Promise<void> {
  for (let done = 0; done < into.length;) {
    const { bytesRead } = await file.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new ArchiveFormatError('the file ends early: it is truncated');
    done += bytesRead;
  }
}
