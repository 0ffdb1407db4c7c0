// Text the guards keep comes from callers before they prove anything: a client id, a scope, an
// address a trusted proxy passed on. It is cut to sizes no honest caller reaches, so neither
// memory nor the audit table grows with what a stranger chooses to send.

/** Principals are at most 193 characters (policy/names.ts); opaque client ids are shorter. */
export const MAX_KEY_LENGTH = 256;
/** Longer than any IPv6 address in text. */
export const MAX_IP_LENGTH = 64;
export const MAX_SCOPE_LENGTH = 1024;

export function clip(text: string, max: number): string;
export function clip(text: string | undefined, max: number): string | undefined;
export function clip(text: string | undefined, max: number): string | undefined {
  return text === undefined || text.length <= max ? text : `${text.slice(0, max)}…`;
}
