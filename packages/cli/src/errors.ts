// Every failure the CLI expects ends as a CliError: a one-line reason and the exit code it
// deserves. Anything else reaching main.ts is a bug and is reported as such.

/** Exit codes of every command: scripts branch on them. */
export const EXIT = {
  ok: 0,
  /** The operation was tried and failed: the server said no, or could not be reached. */
  failure: 1,
  /** The command could not be run as given: bad flags, bad configuration, unreadable files. */
  usage: 2,
} as const;

export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, exitCode: number = EXIT.failure, options?: ErrorOptions) {
    super(message, options);
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

export class UsageError extends CliError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, EXIT.usage, options);
    this.name = 'UsageError';
  }
}

/** Squeezes a message onto one line: stderr is read by people and by scripts with `head -1`. */
export function oneLine(text: string): string {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '')
    .join('; ');
}

export function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
