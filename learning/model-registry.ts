/**
 * Versioned models per station, in a small JSON registry under the data dir
 * (`$CONVEYOR_DATA_DIR/learning/<station>/registry.json`): every registered version with its model
 * file (copied into `versions/`), its operating threshold and notes; which version is current; the
 * versions that were current before (what rollback restores); and the history of every change.
 * Workers serve the versioned files (`servingFor`, read by learning/live.ts on each call); promotion
 * and rollback also rewrite `current.model.json` next to the registry, atomically, as a stable path to
 * the current model for operators and tools (e.g. `conveyor eval --model`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadClassifier, modelVersionOf } from '../providers/local/model-file';
import { routesToCanary } from './canary';
import type { CanarySettings, RegistryEvent, RegistryState, RegistryVersion } from './types';

/** Which version answers an item, and why: the current one, a canary's share, or the stable rest. */
export interface ServingChoice {
  version: string;
  file: string;
  role: 'current' | 'canary' | 'stable';
}

/** The registry cannot do what was asked (unknown version, nothing to roll back to); retrying cannot help. */
export class ModelRegistryError extends Error {
  override readonly name = 'ModelRegistryError';
}

export function learningDirOf(dataDir: string, station: string): string {
  return path.join(dataDir, 'learning', station.replace(/[^\w.-]+/g, '_'));
}

/** The current model's stable copy (`current.model.json`), or undefined while no version was promoted. */
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
    if (!fs.existsSync(this.file)) return { station: this.station, current: null, previous: [], versions: [], history: [], shadow: null, canary: null };
    const state = JSON.parse(fs.readFileSync(this.file, 'utf8')) as RegistryState;
    return { ...state, shadow: state.shadow ?? null, canary: state.canary ?? null };
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

  /**
   * Makes a registered version the current one; promoting the current version again changes nothing.
   * With canary settings the new version serves only their share of the items until the canary
   * monitor keeps it (all traffic) or rolls it back; the rest stay on the version it replaces.
   */
  promote(version: string, by: string, reason: string, now = new Date(), canary?: CanarySettings): RegistryState {
    const entry = this.version(version);
    const state = this.state();
    if (state.current === version) return state;
    if (state.current !== null) state.previous.push(state.current);
    const replaced = state.current;
    state.history.push({ at: now.toISOString(), action: 'promote', version, previous: replaced, by, reason: canary ? `${reason} (canary: ${Math.round(canary.share * 100)}% of items)` : reason });
    state.current = version;
    state.canary = canary ? { ...canary, version, stable: replaced, since: now.toISOString(), by } : null;
    if (state.shadow?.version === version) state.shadow = null;
    writeAtomically(this.currentFile, fs.readFileSync(entry.file));
    this.save(state);
    return state;
  }

  /**
   * Restores the version that was current before the last promotion (a canary's stable version; when
   * a first promotion's canary is rolled back, no version: workers serve their default model again).
   */
  rollback(by: string, reason: string, now = new Date()): RegistryState {
    const state = this.state();
    if (state.current === null) throw new ModelRegistryError(`station ${this.station}: nothing to roll back to (no version is current)`);
    const canaryWithoutStable = state.canary?.version === state.current && state.canary.stable === null;
    const restored = canaryWithoutStable ? null : state.previous.pop();
    if (restored === undefined) {
      throw new ModelRegistryError(`station ${this.station}: nothing to roll back to (current ${state.current}, no earlier version)`);
    }
    const event: RegistryEvent = { at: now.toISOString(), action: 'rollback', version: restored ?? 'default', previous: state.current, by, reason };
    state.history.push(event);
    state.current = restored;
    state.canary = null;
    if (restored === null) fs.rmSync(this.currentFile, { force: true });
    else writeAtomically(this.currentFile, fs.readFileSync(this.version(restored).file));
    this.save(state);
    return state;
  }

  /** The canary proved itself: it serves every item from now on. */
  keepCanary(by: string, reason: string, now = new Date()): RegistryState {
    const state = this.state();
    if (!state.canary) throw new ModelRegistryError(`station ${this.station}: no canary to keep`);
    state.history.push({ at: now.toISOString(), action: 'canary-keep', version: state.canary.version, previous: state.canary.stable, by, reason });
    state.canary = null;
    this.save(state);
    return state;
  }

  /** Runs a registered version in shadow: it answers live items next to the serving model, and is never used. */
  startShadow(version: string, by: string, reason: string, now = new Date()): RegistryState {
    this.version(version);
    const state = this.state();
    if (state.current === version) throw new ModelRegistryError(`station ${this.station}: ${version} is already current; shadow runs a candidate`);
    if (state.shadow?.version === version) return state;
    state.shadow = { version, since: now.toISOString(), by };
    state.history.push({ at: now.toISOString(), action: 'shadow-start', version, previous: state.current, by, reason });
    this.save(state);
    return state;
  }

  stopShadow(by: string, reason: string, now = new Date()): RegistryState {
    const state = this.state();
    if (!state.shadow) return state;
    state.history.push({ at: now.toISOString(), action: 'shadow-stop', version: state.shadow.version, previous: state.current, by, reason });
    state.shadow = null;
    this.save(state);
    return state;
  }

  /**
   * Which version answers the item with this key (undefined: none promoted, the worker's default
   * model answers). During a canary, a stable hash of the key sends its share to the canary.
   */
  servingFor(itemKey: string, state: RegistryState = this.state()): ServingChoice | undefined {
    if (state.current === null) return undefined;
    const versionFile = (version: string) => state.versions.find((entry) => entry.version === version)?.file;
    const canary = state.canary;
    if (canary && canary.version === state.current && !routesToCanary(itemKey, canary.share)) {
      if (canary.stable === null) return undefined;
      return { version: canary.stable, file: versionFile(canary.stable)!, role: 'stable' };
    }
    return { version: state.current, file: versionFile(state.current)!, role: canary ? 'canary' : 'current' };
  }

  /** The shadow candidate's version and file, when one runs. */
  shadowOf(state: RegistryState = this.state()): { version: string; file: string; since: string } | undefined {
    if (!state.shadow) return undefined;
    const file = state.versions.find((entry) => entry.version === state.shadow!.version)?.file;
    return file ? { version: state.shadow.version, file, since: state.shadow.since } : undefined;
  }

  private save(state: RegistryState): void {
    writeAtomically(this.file, `${JSON.stringify(state, null, 2)}\n`);
  }
}
