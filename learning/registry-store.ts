/**
 * Where the learning registry keeps its state and model files: the interface every backend implements,
 * and the embedded default — `learning/<station>/registry.json` and `versions/` under the data dir, as
 * one host sees them. The PostgreSQL backend (learning/registry-postgres.ts) shares the same state
 * between hosts. A change is a rule applied to the newest state, so a backend that shares it can
 * re-apply the rule when another host changed the state first (compare-and-set), instead of
 * overwriting that host's decision.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { RegistryEvent, RegistryState, RegistryVersion } from './types';

/** The registry cannot do what was asked (unknown version, nothing to roll back to); retrying cannot help. */
export class ModelRegistryError extends Error {
  override readonly name = 'ModelRegistryError';
}

export function learningDirOf(dataDir: string, station: string): string {
  return path.join(dataDir, 'learning', station.replace(/[^\w.-]+/g, '_'));
}

/** Where a version's model file lives on this host (both backends: a content-named file under `versions/`). */
export function versionFileOf(dataDir: string, station: string, version: string): string {
  return path.join(learningDirOf(dataDir, station), 'versions', `${version.replace(/[^\w.-]+/g, '_')}.model.json`);
}

export function writeAtomically(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}

export const sha256Of = (content: Buffer | string): string => createHash('sha256').update(content).digest('hex');

export function emptyRegistryState(station: string): RegistryState {
  return { station, current: null, previous: [], versions: [], history: [], shadow: null, canary: null };
}

/**
 * One change to a station's registry: `apply` gets a copy of the newest state and returns the new state
 * (it may change the copy and return it), or undefined when the change has nothing to do; it throws
 * ModelRegistryError when the change is not valid on that state (a backend that retries re-applies it to
 * the state that won).
 */
export interface RegistryChange {
  event: RegistryEvent['action'];
  version: string | null;
  by: string;
  reason: string;
  at: Date;
  apply(state: RegistryState): RegistryState | undefined;
}

/** One attempt to change a station's registry, as the shared backend records every one of them. */
export interface RegistryAttempt {
  station: string;
  /** The revision the attempt produced (applied) or was judged against (unchanged, refused). */
  revision: number;
  event: RegistryEvent['action'];
  version: string | null;
  outcome: 'applied' | 'unchanged' | 'refused';
  by: string;
  reason: string;
  at: string;
}

export interface RegistryStore {
  readonly kind: 'file' | 'postgres';
  /** This host's data dir: model files are served from under it. */
  readonly dataDir: string;
  /** Where a station's registry is kept, for messages (a file path, or the database without its password). */
  where(station: string): string;
  /** The newest state of the station's registry; version files are this host's paths. */
  read(station: string): Promise<RegistryState>;
  /** The state as this process mirrors it, for the serving path: refreshed when another process changes it. */
  mirror(station: string): Promise<RegistryState>;
  /** Applies the change to the newest state; resolves to the state after it (throws ModelRegistryError when refused). */
  change(station: string, change: RegistryChange): Promise<RegistryState>;
  /** Keeps a model file's content under its version; resolves to this host's copy and the content's sha256. */
  saveModel(station: string, version: string, sourceFile: string): Promise<{ file: string; sha256: string }>;
  /** The version's model file on this host, fetched (and its hash checked) when this host does not have it yet. */
  materialise(station: string, entry: RegistryVersion): Promise<string>;
  /** Every attempt to change the station's registry, oldest first. */
  history(station: string): Promise<RegistryAttempt[]>;
  close(): Promise<void>;
}

/** The embedded default: one JSON file per station under the data dir; files copied into `versions/`. */
export function fileRegistryStore(dataDir: string): RegistryStore {
  const fileOf = (station: string) => path.join(learningDirOf(dataDir, station), 'registry.json');
  const read = async (station: string) => readStateFile(fileOf(station), station);
  const mirrors = new Map<string, { stamp: string; state: RegistryState }>();
  return {
    kind: 'file',
    dataDir,
    where: fileOf,
    read,
    async mirror(station) {
      // A rename replaces the file, so inode, size and mtime together tell a rewrite from the same file.
      const stat = fs.statSync(fileOf(station), { throwIfNoEntry: false });
      const stamp = stat ? `${stat.ino}:${stat.size}:${stat.mtimeMs}` : 'none';
      const mirrored = mirrors.get(station);
      if (mirrored?.stamp === stamp) return mirrored.state;
      const state = readStateFile(fileOf(station), station);
      mirrors.set(station, { stamp, state });
      return state;
    },
    async change(station, change) {
      const state = readStateFile(fileOf(station), station);
      const next = change.apply(structuredClone(state));
      if (!next) return state;
      writeAtomically(fileOf(station), `${JSON.stringify(next, null, 2)}\n`);
      return next;
    },
    async saveModel(station, version, sourceFile) {
      const content = fs.readFileSync(sourceFile);
      const file = versionFileOf(dataDir, station, version);
      writeAtomically(file, content);
      return { file, sha256: sha256Of(content) };
    },
    async materialise(_station, entry) {
      return entry.file;
    },
    async history(station) {
      return readStateFile(fileOf(station), station).history.map((event, index) => ({
        station,
        revision: index + 1,
        event: event.action,
        version: event.version,
        outcome: 'applied' as const,
        by: event.by,
        reason: event.reason,
        at: event.at,
      }));
    },
    async close() {},
  };
}

function readStateFile(file: string, station: string): RegistryState {
  if (!fs.existsSync(file)) return emptyRegistryState(station);
  const state = JSON.parse(fs.readFileSync(file, 'utf8')) as RegistryState;
  return { ...state, shadow: state.shadow ?? null, canary: state.canary ?? null };
}
