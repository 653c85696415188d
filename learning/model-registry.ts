/**
 * Versioned models per station, in a small JSON registry under the data dir
 * (`$CONVEYOR_DATA_DIR/learning/<station>/registry.json`): every registered version with its model
 * file (copied into `versions/`), its operating threshold and notes; which version is current; the
 * versions that were current before (what rollback restores); and the history of every change.
 * Promotion and rollback rewrite `current.model.json` next to it — the stable path the local small
 * model loads through `options.modelFile` — atomically, so a reader never sees half a model.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadClassifier, modelVersionOf } from '../providers/local/model-file';
import type { RegistryEvent, RegistryState, RegistryVersion } from './types';

/** The registry cannot do what was asked (unknown version, nothing to roll back to); retrying cannot help. */
export class ModelRegistryError extends Error {
  override readonly name = 'ModelRegistryError';
}

export function learningDirOf(dataDir: string, station: string): string {
  return path.join(dataDir, 'learning', station.replace(/[^\w.-]+/g, '_'));
}

/** The file the serving model is loaded from, or undefined while no version was promoted. */
export function currentModelFile(dataDir: string, station: string): string | undefined {
  const file = path.join(learningDirOf(dataDir, station), 'current.model.json');
  return fs.existsSync(file) ? file : undefined;
}

function writeAtomically(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.${Date.now()}.tmp`;
  fs.writeFileSync(temporary, content);
  fs.renameSync(temporary, file);
}

export class ModelRegistry {
  readonly dir: string;
  readonly file: string;
  readonly currentFile: string;

  constructor(
    readonly dataDir: string,
    readonly station: string,
  ) {
    this.dir = learningDirOf(dataDir, station);
    this.file = path.join(this.dir, 'registry.json');
    this.currentFile = path.join(this.dir, 'current.model.json');
  }

  state(): RegistryState {
    if (!fs.existsSync(this.file)) return { station: this.station, current: null, previous: [], versions: [], history: [] };
    return JSON.parse(fs.readFileSync(this.file, 'utf8')) as RegistryState;
  }

  version(version: string): RegistryVersion {
    const found = this.state().versions.find((entry) => entry.version === version);
    if (!found) throw new ModelRegistryError(`station ${this.station}: no model version ${version} in ${this.file}`);
    return found;
  }

  current(): RegistryVersion | undefined {
    const { current } = this.state();
    return current === null ? undefined : this.version(current);
  }

  /** Copies a saved model into the registry under its content version; registering it again is a no-op. */
  register(modelFile: string, details: { by: string; threshold?: number | null; runId?: string | null; notes?: Record<string, unknown> }, now = new Date()): RegistryVersion {
    const saved = loadClassifier(modelFile);
    const version = modelVersionOf(saved.task, saved.model);
    const state = this.state();
    const existing = state.versions.find((entry) => entry.version === version);
    if (existing) return existing;
    const file = path.join(this.dir, 'versions', `${version.replace(/[^\w.-]+/g, '_')}.model.json`);
    writeAtomically(file, fs.readFileSync(modelFile));
    const entry: RegistryVersion = { version, file, createdAt: now.toISOString(), threshold: details.threshold ?? null, runId: details.runId ?? null, notes: details.notes ?? {} };
    state.versions.push(entry);
    state.history.push({ at: now.toISOString(), action: 'register', version, previous: state.current, by: details.by, reason: 'registered' });
    this.save(state);
    return entry;
  }

  /** Makes a registered version the current one; promoting the current version again changes nothing. */
  promote(version: string, by: string, reason: string, now = new Date()): RegistryState {
    const entry = this.version(version);
    const state = this.state();
    if (state.current === version) return state;
    if (state.current !== null) state.previous.push(state.current);
    state.history.push({ at: now.toISOString(), action: 'promote', version, previous: state.current, by, reason });
    state.current = version;
    writeAtomically(this.currentFile, fs.readFileSync(entry.file));
    this.save(state);
    return state;
  }

  /** Restores the version that was current before the last promotion. */
  rollback(by: string, reason: string, now = new Date()): RegistryState {
    const state = this.state();
    const restored = state.previous.pop();
    if (restored === undefined || state.current === null) {
      throw new ModelRegistryError(`station ${this.station}: nothing to roll back to (current ${state.current ?? 'none'}, no earlier version)`);
    }
    const entry = this.version(restored);
    const event: RegistryEvent = { at: now.toISOString(), action: 'rollback', version: restored, previous: state.current, by, reason };
    state.history.push(event);
    state.current = restored;
    writeAtomically(this.currentFile, fs.readFileSync(entry.file));
    this.save(state);
    return state;
  }

  private save(state: RegistryState): void {
    writeAtomically(this.file, `${JSON.stringify(state, null, 2)}\n`);
  }
}
