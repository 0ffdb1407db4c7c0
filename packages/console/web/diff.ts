// What an audit event changed, as lines a person reads: for each field of `before` and `after`
// that differs, `field: old → new`; a field only in `after` is `field: new`, one only in `before`
// is `field: old → (none)`. Nested values are compared by their JSON text. Bookkeeping is left
// out (createdAt, updatedAt), and so are a new or removed record's empty fields (null, [], 0,
// false), so a creation reads as what was set. Times (fields ending in `At`, in ms or ISO 8601)
// are written as `2030-01-01 00:00 UTC`. Pure: no DOM, so it is tested outside the browser.

export interface DiffLine {
  field: string;
  before?: string;
  after?: string;
}

const BOOKKEEPING = new Set(['createdAt', 'updatedAt']);

const isTime = (field: string, value: unknown): boolean =>
  field.endsWith('At') && ((typeof value === 'number' && value > 0) || (typeof value === 'string' && !Number.isNaN(Date.parse(value))));

const text = (field: string, value: unknown): string => {
  if (value === null || value === undefined) return '(none)';
  if (isTime(field, value)) {
    const iso = new Date(value as number | string).toISOString();
    return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  }
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null)) return value.length === 0 ? '(none)' : value.join(', ');
  return JSON.stringify(value);
};

const isEmpty = (value: unknown): boolean =>
  value === null || value === undefined || value === false || value === 0 || (Array.isArray(value) && value.length === 0);

const fields = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};

export function diffLines(before: unknown, after: unknown): DiffLine[] {
  if (before !== null && before !== undefined && typeof before !== 'object') return [{ field: 'value', before: text('', before), after: text('', after) }];
  const old = fields(before);
  const next = fields(after);
  const created = before === null || before === undefined;
  const removed = after === null || after === undefined;
  const lines: DiffLine[] = [];
  for (const field of new Set([...Object.keys(old), ...Object.keys(next)])) {
    if (BOOKKEEPING.has(field)) continue;
    const was = old[field];
    const is = next[field];
    if (JSON.stringify(was) === JSON.stringify(is)) continue;
    if (created && isEmpty(is)) continue;
    if (removed && isEmpty(was)) continue;
    if (!(field in old)) lines.push({ field, after: text(field, is) });
    else if (!(field in next)) lines.push({ field, before: text(field, was), after: '(none)' });
    else lines.push({ field, before: text(field, was), after: text(field, is) });
  }
  return lines;
}

/** `role-member.put-many` → `role member put many`: an event type as words. */
export function describeType(type: string): string {
  return type.replace(/[.-]/g, ' ');
}
