// Suggestions for misspelt setting names and values. Case, `-` and `_` are ignored so that
// `data_dir`, `DATA-DIR` and `datadir` all lead to `dataDir`.

export function closest(input: string, candidates: readonly string[]): string | undefined {
  const wanted = normalise(input);
  // A third of the length keeps "tokns" → "tokens" while not offering "info" for "warn".
  const limit = Math.max(1, Math.floor(wanted.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, normalise(candidate));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/[-_\s]/g, '');
}

/** Optimal string alignment distance: Levenshtein plus adjacent transpositions ("ES265"). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      const substitution = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      }
      row.push(distance);
    }
    rows.push(row);
  }
  return rows[a.length]![b.length]!;
}
