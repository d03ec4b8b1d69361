import type { LoadResult } from './load-worker';

/** One line of the results table. */
export interface Row {
  label: string;
  result: LoadResult;
  /**
   * Requests/s as a ratio to the baseline of the same pattern (`baseline hot row` for the hot-row rows),
   * (REST rows) to GraphQL updateUser, and (the server's updateUser rows) to PostGraphile's.
   */
  toBaseline?: number;
  toUpdateUser?: number;
  toPeer?: number;
}

/** A target from the issue, checked against this run's figures. */
export interface Target {
  label: string;
  actual: string;
  pass: boolean;
}

const fixed = (value: number | undefined, digits: number) =>
  value === undefined ? '' : value.toFixed(digits);
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

function printColumns(header: string[], lines: string[][], alignLeft: number[] = [0]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((line) => line[c].length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, c) => (alignLeft.includes(c) ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(format(line));
}

/** requests/s, p50, p99, errors, non-2xx and the ratios, one scenario a line. */
export function printTable(rows: Row[]): void {
  const withPeer = rows.some((row) => row.toPeer !== undefined);
  printColumns(
    [
      'scenario',
      'req/s',
      'p50 ms',
      'p99 ms',
      'errors',
      'non-2xx',
      'x baseline',
      'x updateUser',
      ...(withPeer ? ['x postgraphile'] : []),
    ],
    rows.map(({ label, result, toBaseline, toUpdateUser, toPeer }) => [
      label,
      thousands(result.requestsPerSecond),
      fixed(result.p50, 1),
      fixed(result.p99, 1),
      String(result.errors),
      String(result.non2xx),
      fixed(toBaseline, 2),
      fixed(toUpdateUser, 2),
      ...(withPeer ? [fixed(toPeer, 2)] : []),
    ]),
  );
}

/** The targets next to the figures; a miss is reported, not fatal. */
export function printTargets(targets: Target[]): void {
  console.log('');
  printColumns(
    ['target', 'measured', 'result'],
    targets.map((t) => [t.label, t.actual, t.pass ? 'PASS' : 'FAIL']),
    [0, 1],
  );
  const failed = targets.filter((t) => !t.pass).length;
  console.log(`\n${targets.length - failed} of ${targets.length} targets met`);
}

/** Failing answers seen by the load worker, so a FAIL says why. */
export function printFailureSamples(rows: Row[]): void {
  for (const { label, result } of rows) {
    if (result.samples.length === 0) continue;
    const codes = Object.entries(result.statusCodes)
      .map(([code, count]) => `${code}: ${count}`)
      .join(', ');
    console.log(`\n${label}: status codes ${codes}; first failing answers:`);
    for (const sample of result.samples) console.log(`  ${sample}`);
  }
}

export function clean(result: LoadResult): boolean {
  return result.errors === 0 && result.non2xx === 0;
}

export function megabytes(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

export { thousands };

export const median = (values: number[]) => {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};

/** One scenario over all rounds: median figures, every failure counted. */
export function combined(results: LoadResult[]): LoadResult {
  const statusCodes: Record<string, number> = {};
  for (const result of results) {
    for (const [code, count] of Object.entries(result.statusCodes))
      statusCodes[code] = (statusCodes[code] ?? 0) + count;
  }
  return {
    responses: results.reduce((sum, r) => sum + r.responses, 0),
    seconds: results.reduce((sum, r) => sum + r.seconds, 0),
    requestsPerSecond: median(results.map((r) => r.requestsPerSecond)),
    p50: median(results.map((r) => r.p50)),
    p99: median(results.map((r) => r.p99)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    statusCodes,
    samples: results.flatMap((r) => r.samples).slice(0, 5),
  };
}
