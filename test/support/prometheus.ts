/**
 * A real Prometheus (Debian's `prometheus`, installed by scripts/system-deps.sh) started by a test on a
 * free loopback port with a generated config: it scrapes the given targets every second and loads the
 * given rule files. `query` asks its HTTP API for an instant vector; `stop` ends it and removes its data.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../../platform/embedded-server';
import { eventually, tempDir } from './temporal';

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus {
  url: string;
  query(promql: string): Promise<PromSample[]>;
  /** The single value of a query that yields one sample (0 when it yields none). */
  scalar(promql: string): Promise<number>;
  output(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(targets: string[], options: { ruleFiles?: string[] } = {}): Promise<RunningPrometheus> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  evaluation_interval: 1s',
    ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((file) => `  - ${JSON.stringify(file)}`)] : []),
    'scrape_configs:',
    '  - job_name: conveyor-worker',
    '    static_configs:',
    `      - targets: [${targets.map((target) => JSON.stringify(target)).join(', ')}]`,
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `${config}\n`);
  const child = spawn('prometheus', [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await eventually(async () => ((await fetch(`${url}/-/ready`).catch(() => undefined))?.ok ? true : undefined), 30_000);
  } catch {
    await stop();
    throw new Error(`prometheus did not start:\n${output}`);
  }
  const query = async (promql: string): Promise<PromSample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`prometheus refused ${promql}: ${body.error ?? response.status}`);
    return (body.data?.result ?? []).map((sample) => ({ metric: sample.metric, value: Number(sample.value[1]) }));
  };
  return {
    url,
    query,
    scalar: async (promql) => (await query(promql))[0]?.value ?? 0,
    output: () => output,
    stop,
  };
}
