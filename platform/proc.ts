/**
 * The one reader of Linux's /proc for the project's scripts: a process's state, parent, command name and
 * CPU time (`/proc/<pid>/stat`), its command line, its memory (`/proc/<pid>/status`), and the processes
 * a parent started. Elsewhere (no /proc), and for a process that is gone or ended while it was read,
 * every reader answers undefined (or no processes), never throws.
 */
import fs from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every Linux this runs on). */
const USER_HZ = 100;

export interface ProcStat {
  pid: number;
  /** The executable's name as the kernel keeps it (at most 15 characters). */
  comm: string;
  /** R running, S sleeping, D waiting on I/O, Z zombie (ended, not yet reaped), T stopped, … */
  state: string;
  parentPid: number;
  /** CPU seconds used so far, user and system, all threads. */
  cpuSeconds: number;
}

/** A process's /proc/<pid>/stat, or undefined when there is no such process (or no /proc). */
export function procStat(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid …; comm may hold spaces and parentheses, so split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid: Number(pid),
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    state: fields[0] ?? '',
    parentPid: Number(fields[1]),
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / USER_HZ,
  };
}

/** A zombie has ended and waits for its parent to reap it: it no longer runs. */
const runs = (stat: ProcStat | undefined): stat is ProcStat => stat !== undefined && stat.state !== 'Z';

/** Whether the process runs (exists and is not a zombie). */
export function isRunning(pid: number): boolean {
  return runs(procStat(pid));
}

/** A process's command line, arguments joined by spaces, or undefined. */
export function procCommandLine(pid: number | string): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return undefined;
  }
}

/** A memory figure of /proc/<pid>/status in bytes: VmRSS (resident now) or VmHWM (the peak). */
export function procMemoryBytes(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** The processes `parentPid` started that still run (default: this process's). */
export function childProcesses(parentPid: number = process.pid): ProcStat[] {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  return entries.flatMap((name) => {
    const stat = procStat(name);
    return runs(stat) && stat.parentPid === parentPid ? [stat] : [];
  });
}
