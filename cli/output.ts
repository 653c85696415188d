/** Small helpers for human-friendly CLI output: tables, money, a progress bar. */

/** Cells wider than `maxWidth` are clipped with an ellipsis. */
export function table(rows: readonly Record<string, unknown>[], columns?: string[], maxWidth = 60): string {
  if (rows.length === 0) return '(none)';
  const keys = columns ?? Object.keys(rows[0]!);
  const cell = (value: unknown): string =>
    value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  const widths = keys.map((key) => Math.min(maxWidth, Math.max(key.length, ...rows.map((row) => cell(row[key]).length))));
  const clip = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width));
  const line = (values: string[]) => values.map((value, index) => clip(value, widths[index]!)).join('  ');
  return [line(keys), line(widths.map((width) => '─'.repeat(width))), ...rows.map((row) => line(keys.map((key) => cell(row[key]))))].join('\n');
}

export const usd = (value: number) => `$${value.toFixed(value < 0.01 ? 6 : 4)}`;

export function progressBar(done: number, total: number, width = 30): string {
  const ratio = total === 0 ? 1 : Math.min(1, done / total);
  const filled = Math.round(ratio * width);
  return `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${done}/${total}`;
}

export { percentile } from '../domain/stats';

/** Runs a command module as a script (`npx tsx cli/<command>.ts …`): one line per output call, its exit code, an uncaught error as `Name: message`. */
export function runAsScript(command: (argv: string[], io: { stdout: (line: string) => void; stderr: (line: string) => void }) => Promise<number>): void {
  command(process.argv.slice(2), {
    stdout: (line) => process.stdout.write(`${line}\n`),
    stderr: (line) => process.stderr.write(`${line}\n`),
  }).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
