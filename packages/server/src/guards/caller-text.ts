// Text the guards keep comes from callers before they prove anything: a client id, a scope, an
// address a trusted proxy passed on. It is cut to sizes no honest caller reaches, so neither
// memory nor the audit table grows with what a stranger chooses to send, and its control
// characters are replaced: PostgreSQL cannot store NUL in text (an audit batch holding one would
// be refused whole), and a newline or escape sequence would let a caller forge lines in a log
// or an exported audit trail.

/** Principals are at most 193 characters (policy/names.ts); opaque client ids are shorter. */
export const MAX_KEY_LENGTH = 256;
/** Longer than any IPv6 address in text. */
export const MAX_IP_LENGTH = 64;
export const MAX_SCOPE_LENGTH = 1024;

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators. Two literals: a
// global regex's test() would carry lastIndex between calls.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

export function clip(text: string, max: number): string;
export function clip(text: string | undefined, max: number): string | undefined;
export function clip(text: string | undefined, max: number): string | undefined {
  if (text === undefined) return text;
  const kept = text.length <= max ? text : `${text.slice(0, max)}…`;
  return CONTROL.test(kept) ? kept.replaceAll(CONTROLS, '\uFFFD') : kept;
}
