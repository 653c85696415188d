/**
 * `conveyor audit export [--since 24h|7d|ISO] [--type T] [--out FILE]`: the audit log as JSONL, one
 * record per line, built from the workflows' recorded data.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { ConveyorClient } from '../client';
import { collectAudit } from '../client/audit';
import { loadSettings } from '../platform/settings';
import { parseSince } from './report';

export async function auditCommand(argv: string[], io: { stdout(line: string): void; stderr(line: string): void }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { since: { type: 'string' }, type: { type: 'string' }, 'task-queue': { type: 'string' }, out: { type: 'string' } }, allowPositionals: true, strict: true });
  } catch (error) {
    io.stderr(`conveyor audit: ${(error as Error).message}`);
    return 2;
  }
  if (parsed.positionals[0] !== 'export' || parsed.positionals.length !== 1) {
    io.stderr('conveyor audit: usage: conveyor audit export [--since 24h|7d|ISO] [--type T] [--task-queue Q] [--out FILE]');
    return 2;
  }
  let since: Date;
  try {
    since = parseSince(parsed.values.since ?? '24h');
  } catch (error) {
    io.stderr(`conveyor audit: --since: ${(error as Error).message}`);
    return 2;
  }
  const client = await ConveyorClient.connect();
  try {
    const lines: string[] = [];
    let unreadable = 0;
    for await (const record of collectAudit(client, { since, type: parsed.values.type, taskQueue: parsed.values['task-queue'], key: loadSettings().auditKey })) {
      lines.push(JSON.stringify(record));
      if (record.kind === 'unreadable') {
        unreadable++;
        io.stderr(`conveyor audit: job ${record.jobId} is in the export as unreadable: ${record.detail}`);
      }
    }
    if (parsed.values.out) {
      fs.writeFileSync(parsed.values.out, lines.length ? `${lines.join('\n')}\n` : '');
      io.stdout(`wrote ${lines.length} audit records to ${parsed.values.out}`);
    } else {
      for (const line of lines) io.stdout(line);
    }
    // An export that could not read every job is incomplete: say so in the exit code too.
    return unreadable > 0 ? 1 : 0;
  } finally {
    await client.close();
  }
}
