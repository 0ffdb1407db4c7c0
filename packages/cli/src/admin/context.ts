// What each admin resource module receives from `tessera admin`.

import type { Command } from 'commander';

import type { AdminSession } from './session.ts';

export interface AdminContext {
  /** For relative times (`--expires-at 90d`). */
  now(): number;
  /** Where relative file arguments are read from. */
  cwd: string;
  /** Connects with the admin flags given to `command` or its parents; call after checking arguments. */
  open(command: Command): Promise<AdminSession>;
}

/** A resource's subcommands: `admin <resource> <verb> …`. */
export type RegisterResource = (admin: Command, context: AdminContext) => void;
