/**
 * `npm start` as a person runs it on a fresh machine: no TEMPORAL_ADDRESS, so the embedded server
 * starts (on free ports, with a data dir of its own), the demo batch runs, and the Web UI stays
 * reachable until Ctrl-C, which stops the server and frees its ports. `--once --auto-approve` is the
 * scripted variant: it approves what waits, prints the summary and exits 0.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, isPortFree } from '../platform/embedded-server';
import { repoRoot } from './support/cli';
import { eventually, tempDir } from './support/temporal';

const ticket = (id: string, text: string) => JSON.stringify({ id, type: 'support-ticket', input: { text }, requestedBy: 'demo-backend' });

interface Started {
  child: ChildProcessByStdio<null, Readable, Readable>;
  output: () => string;
  /** Resolves with the exit code once every process holding the output pipes has exited. */
  closed: Promise<number | null>;
  ports: number[];
  dataDir: string;
}

const running: Started[] = [];

afterEach(() => {
  // A failed test must not leave a server behind: the whole process group goes, as with a closed terminal.
  for (const started of running.splice(0)) {
    if (started.child.exitCode === null && started.child.signalCode === null) {
      try {
        process.kill(-started.child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    fs.rmSync(started.dataDir, { recursive: true, force: true });
  }
});

/** `npm start -- <args>` with the jobs file of three tickets, on free ports and a fresh data dir. */
async function npmStart(args: string[], tickets: string[]): Promise<Started> {
  const dataDir = tempDir('start');
  const jobsFile = path.join(dataDir, 'tickets.jsonl');
  fs.writeFileSync(jobsFile, `${tickets.join('\n')}\n`);
  const ports = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, CONVEYOR_DATA_DIR: dataDir, CONVEYOR_GRPC_PORT: String(ports[0]), CONVEYOR_UI_PORT: String(ports[1]) };
  for (const name of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'CONVEYOR_TASK_QUEUE', 'CONVEYOR_UI_URL', 'NODE_OPTIONS']) delete env[name];
  // Its own process group, so Ctrl-C can be delivered to every process of it, as a terminal does.
  const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'start.js'), ...args, '--jobs', jobsFile], {
    cwd: repoRoot,
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const closed = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  const started = { child, output: () => output, closed, ports, dataDir };
  running.push(started);
  return started;
}

async function within<T>(promise: Promise<T>, ms: number, what: string, output: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms; output so far:\n${output()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe('npm start', () => {
  it('without flags keeps the Web UI reachable until Ctrl-C, then stops and frees its ports', async () => {
    const started = await npmStart([], [
      ticket('t-01', 'Where is my order #A10231? The tracking has not moved.'),
      ticket('t-02', 'Hi, can you tell me when order ORD-2026-1187 will ship? Thanks!'),
      ticket('t-03', 'Please refund $24.50 for order #D20991, the wrong size was sent.'),
    ]);
    const uiUrl = await within(
      eventually(async () => /keep running\. Temporal Web UI: (http:\/\/\S+)/.exec(started.output())?.[1], 130_000),
      120_000,
      'no "keep running" line',
      started.output,
    );
    expect(uiUrl).toBe(`http://localhost:${started.ports[1]}`);
    expect(started.output()).toMatch(/Summary of demo-\d{14}-[0-9a-f]{6} \(3 jobs\)/);

    const page = await fetch(uiUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(await page.text()).toMatch(/<html/i);
    expect(await isPortFree(started.ports[0]!)).toBe(false);

    process.kill(-started.child.pid!, 'SIGINT');
    await within(started.closed, 30_000, 'npm start did not exit after Ctrl-C', started.output);
    for (const port of started.ports) await eventually(async () => ((await isPortFree(port)) ? true : undefined), 10_000);
    await expect(fetch(uiUrl)).rejects.toThrow();
  });

  it('--once --auto-approve approves what waits, prints the summary and exits 0', async () => {
    const started = await npmStart(['--once', '--auto-approve'], [
      ticket('t-01', 'Where is my order #A10231? The tracking has not moved.'),
      ticket('t-02', 'I want a full refund of $849.00 for the laptop from order #F90001. It stopped working after two days.'),
      ticket('t-03', 'Hi, can you tell me when order ORD-2026-1187 will ship? Thanks!'),
    ]);
    const code = await within(started.closed, 120_000, 'npm start --once did not exit', started.output);
    const output = started.output();
    expect(code, output).toBe(0);
    expect(output).toMatch(/--auto-approve: approving 1 item\(s\)/);
    const summaries = output.split(/\nSummary of demo-\d{14}-[0-9a-f]{6} \(3 jobs\)\n/);
    expect(summaries).toHaveLength(3);
    expect(summaries[1]).toMatch(/awaiting approval\s+1\b/);
    expect(summaries[2]).toMatch(/completed\s+3\b/);
    expect(summaries[2]).toMatch(/awaiting approval\s+0\b/);
    expect(summaries[2]).toMatch(/actions executed\s+\d+/);
    expect(output).not.toMatch(/keep running/);
    for (const port of started.ports) expect(await isPortFree(port)).toBe(true);
  });
});
