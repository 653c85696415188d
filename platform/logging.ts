/**
 * The SDK runtime's log level, set once per process before any worker or connection is created:
 * WARN by default so CLI output stays readable; CONVEYOR_LOG_LEVEL=INFO or DEBUG for more.
 */
import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

const levels: LogLevel[] = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'];
let installed = false;

export function installRuntimeLogging(env: NodeJS.ProcessEnv = process.env): void {
  if (installed) return;
  installed = true;
  const wanted = (env.CONVEYOR_LOG_LEVEL ?? 'WARN').toUpperCase() as LogLevel;
  Runtime.install({ logger: new DefaultLogger(levels.includes(wanted) ? wanted : 'WARN') });
}
