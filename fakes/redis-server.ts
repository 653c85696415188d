/**
 * A real redis-server process for tests (installed by scripts/system-deps.sh): 127.0.0.1 on a free port,
 * no persistence, stopped by the test that started it.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { freePort } from '../platform/embedded-server';

export interface TestRedis {
  url: string;
  stop(): Promise<void>;
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(): Promise<TestRedis> {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnFailure = new Promise<never>((_resolve, reject) => child.once('error', reject));
  const deadline = Date.now() + 10_000;
  while (!(await Promise.race([acceptsConnections(port), spawnFailure]))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not start on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
