/**
 * Versioned models per station: every registered version with its model file, its operating threshold
 * and notes; which version is current; the versions that were current before (what rollback restores);
 * the shadow and the canary; and the history of every change. The state lives in a RegistryStore
 * (learning/registry-store.ts): by default a small JSON file under the data dir
 * (`$CONVEYOR_DATA_DIR/learning/<station>/registry.json`, model files copied into `versions/`), or one
 * row per station in PostgreSQL shared by every host (learning/registry-postgres.ts). Each change is a
 * rule applied to the newest state, so two hosts deciding at once cannot both win: the second is
 * re-judged on the state the first left. Workers serve the versioned files (`servingFor`, read by
 * learning/live.ts on each call); promotion and rollback also rewrite `current.model.json` next to the
 * registry on the host that made them, atomically, as a stable path to the current model for operators
 * and tools (e.g. `conveyor eval --model`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadClassifier, modelVersionOf } from '../providers/local/model-file';
import { routesToCanary } from './canary';
import { fileRegistryStore, learningDirOf, ModelRegistryError, writeAtomically, type RegistryAttempt, type RegistryChange, type RegistryStore } from './registry-store';
import { postgresRegistryStore } from './registry-postgres';
import type { CanarySettings, RegistryEvent, RegistryState, RegistryVersion } from './types';

export { learningDirOf, ModelRegistryError } from './registry-store';
export type { RegistryAttempt, RegistryStore } from './registry-store';

/** Which version answers an item, and why: the current one, a canary's share, or the stable rest. */
export interface ServingChoice {
  version: string;
  file: string;
  role: 'current' | 'canary' | 'stable';
}

/** The current model's stable copy (`current.model.json`), or undefined while no version was promoted. */
export function currentModelFile(dataDir: string, station: string): string | undefined {
  const file = path.join(learningDirOf(dataDir, station), 'current.model.json');
  return fs.existsSync(file) ? file : undefined;
}

/**
 * The registry store a worker or the CLI uses: PostgreSQL, shared by every host, when the settings name a
 * database (`settings.databaseUrl`, CONVEYOR_DATABASE_URL); else the files under the data dir.
 */
export function openRegistryStore(options: { dataDir: string; databaseUrl?: string | undefined; log?: (message: string) => void }): RegistryStore {
  return options.databaseUrl ? postgresRegistryStore({ url: options.databaseUrl, dataDir: options.dataDir, log: options.log }) : fileRegistryStore(options.dataDir);
}

/** A registry on a data dir's files, or on a store (`openRegistryStore`). */
export type RegistryPlace = string | RegistryStore;

const stores = new Map<string, RegistryStore>();

/** The store of a place: a data dir names its file store (one per data dir in a process). */
export function registryStoreOf(place: RegistryPlace): RegistryStore {
  if (typeof place !== 'string') return place;
  const key = path.resolve(place);
  let store = stores.get(key);
  if (!store) stores.set(key, (store = fileRegistryStore(place)));
  return store;
}

interface Event {
  action: RegistryEvent['action'];
  version: string | null;
  by: string;
  reason: string;
}

export class ModelRegistry {
  readonly store: RegistryStore;
  readonly dataDir: string;
  readonly dir: string;
  /** Where the station's registry is kept: its file, or the database (without its password). */
  readonly file: string;
  readonly currentFile: string;

  constructor(
    place: RegistryPlace,
    readonly station: string,
  ) {
    this.store = registryStoreOf(place);
    this.dataDir = this.store.dataDir;
    this.dir = learningDirOf(this.dataDir, station);
    this.file = this.store.where(station);
    this.currentFile = path.join(this.dir, 'current.model.json');
  }

  state(): Promise<RegistryState> {
    return this.store.read(this.station);
  }

  /** The state as this process mirrors it: what the serving path reads on every call (see RegistryStore.mirror). */
  mirrored(): Promise<RegistryState> {
    return this.store.mirror(this.station);
  }

  /** Every attempt to change this registry (the shared store also records the refused ones). */
  history(): Promise<RegistryAttempt[]> {
    return this.store.history(this.station);
  }

  /** A registered version, its model file present on this host. */
  async version(version: string, state?: RegistryState): Promise<RegistryVersion> {
    const found = (state ?? (await this.state())).versions.find((entry) => entry.version === version);
    if (!found) throw new ModelRegistryError(`station ${this.station}: no model version ${version} in ${this.file}`);
    return { ...found, file: await this.store.materialise(this.station, found) };
  }

  async current(): Promise<RegistryVersion | undefined> {
    const state = await this.state();
    return state.current === null ? undefined : this.version(state.current, state);
  }

  /** The file of a version this host serves, fetched first when the store is shared and this host lacks it. */
  async materialise(choice: { version: string }, state: RegistryState): Promise<string> {
    return (await this.version(choice.version, state)).file;
  }

  /** Copies a saved model into the registry under its content version; registering it again is a no-op. */
  async register(modelFile: string, details: { by: string; threshold?: number | null; runId?: string | null; notes?: Record<string, unknown> }, now = new Date()): Promise<RegistryVersion> {
    const saved = loadClassifier(modelFile);
    const version = modelVersionOf(saved.task, saved.model);
    const existing = (await this.state()).versions.find((entry) => entry.version === version);
    if (existing) return existing;
    const { file, sha256 } = await this.store.saveModel(this.station, version, modelFile);
    const entry: RegistryVersion = { version, file, sha256, createdAt: now.toISOString(), threshold: details.threshold ?? null, runId: details.runId ?? null, notes: details.notes ?? {} };
    const state = await this.change({ action: 'register', version, by: details.by, reason: 'registered' }, now, (state) => {
      if (state.versions.some((other) => other.version === version)) return undefined;
      state.versions.push(entry);
      state.history.push({ at: now.toISOString(), action: 'register', version, previous: state.current, by: details.by, reason: 'registered' });
      return state;
    });
    return state.versions.find((other) => other.version === version)!;
  }

  /**
   * Makes a registered version the current one; promoting the current version again changes nothing.
   * With canary settings the new version serves only their share of the items until the canary
   * monitor keeps it (all traffic) or rolls it back; the rest stay on the version it replaces.
   */
  async promote(version: string, by: string, reason: string, now = new Date(), canary?: CanarySettings): Promise<RegistryState> {
    const logged = canary ? `${reason} (canary: ${Math.round(canary.share * 100)}% of items)` : reason;
    const state = await this.change({ action: 'promote', version, by, reason: logged }, now, (state) => {
      if (!state.versions.some((entry) => entry.version === version)) throw new ModelRegistryError(`station ${this.station}: no model version ${version} in ${this.file}`);
      if (state.current === version) return undefined;
      if (state.current !== null) state.previous.push(state.current);
      const replaced = state.current;
      state.history.push({ at: now.toISOString(), action: 'promote', version, previous: replaced, by, reason: logged });
      state.current = version;
      state.canary = canary ? { ...canary, version, stable: replaced, since: now.toISOString(), by } : null;
      if (state.shadow?.version === version) state.shadow = null;
      return state;
    });
    await this.writeCurrentFile(state);
    return state;
  }

  /**
   * Restores the version that was current before the last promotion (a canary's stable version; when
   * a first promotion's canary is rolled back, no version: workers serve their default model again).
   * With `canaryVersion`, only while that version is still the canary (the canary monitor's guard: a
   * decision another settle or host made first is not made twice).
   */
  async rollback(by: string, reason: string, now = new Date(), guard: { canaryVersion?: string } = {}): Promise<RegistryState> {
    const state = await this.change({ action: 'rollback', version: guard.canaryVersion ?? null, by, reason }, now, (state) => {
      this.requireCanary(state, guard.canaryVersion);
      if (state.current === null) throw new ModelRegistryError(`station ${this.station}: nothing to roll back to (no version is current)`);
      const canaryWithoutStable = state.canary?.version === state.current && state.canary.stable === null;
      const restored = canaryWithoutStable ? null : state.previous.pop();
      if (restored === undefined) {
        throw new ModelRegistryError(`station ${this.station}: nothing to roll back to (current ${state.current}, no earlier version)`);
      }
      state.history.push({ at: now.toISOString(), action: 'rollback', version: restored ?? 'default', previous: state.current, by, reason });
      state.current = restored;
      state.canary = null;
      return state;
    });
    await this.writeCurrentFile(state);
    return state;
  }

  /** The canary proved itself: it serves every item from now on. */
  async keepCanary(by: string, reason: string, now = new Date(), guard: { canaryVersion?: string } = {}): Promise<RegistryState> {
    return this.change({ action: 'canary-keep', version: guard.canaryVersion ?? null, by, reason }, now, (state) => {
      this.requireCanary(state, guard.canaryVersion);
      if (!state.canary) throw new ModelRegistryError(`station ${this.station}: no canary to keep`);
      state.history.push({ at: now.toISOString(), action: 'canary-keep', version: state.canary.version, previous: state.canary.stable, by, reason });
      state.canary = null;
      return state;
    });
  }

  /** Runs a registered version in shadow: it answers live items next to the serving model, and is never used. */
  async startShadow(version: string, by: string, reason: string, now = new Date()): Promise<RegistryState> {
    return this.change({ action: 'shadow-start', version, by, reason }, now, (state) => {
      if (!state.versions.some((entry) => entry.version === version)) throw new ModelRegistryError(`station ${this.station}: no model version ${version} in ${this.file}`);
      if (state.current === version) throw new ModelRegistryError(`station ${this.station}: ${version} is already current; shadow runs a candidate`);
      if (state.shadow?.version === version) return undefined;
      state.shadow = { version, since: now.toISOString(), by };
      state.history.push({ at: now.toISOString(), action: 'shadow-start', version, previous: state.current, by, reason });
      return state;
    });
  }

  async stopShadow(by: string, reason: string, now = new Date()): Promise<RegistryState> {
    return this.change({ action: 'shadow-stop', version: null, by, reason }, now, (state) => {
      if (!state.shadow) return undefined;
      state.history.push({ at: now.toISOString(), action: 'shadow-stop', version: state.shadow.version, previous: state.current, by, reason });
      state.shadow = null;
      return state;
    });
  }

  /**
   * Which version answers the item with this key (undefined: none promoted, the worker's default
   * model answers). During a canary, a stable hash of the key sends its share to the canary.
   */
  servingFor(itemKey: string, state: RegistryState): ServingChoice | undefined {
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
  shadowOf(state: RegistryState): { version: string; file: string; since: string } | undefined {
    if (!state.shadow) return undefined;
    const file = state.versions.find((entry) => entry.version === state.shadow!.version)?.file;
    return file ? { version: state.shadow.version, file, since: state.shadow.since } : undefined;
  }

  private requireCanary(state: RegistryState, canaryVersion: string | undefined): void {
    if (canaryVersion !== undefined && state.canary?.version !== canaryVersion) {
      throw new ModelRegistryError(`station ${this.station}: canary ${canaryVersion} was already decided (${state.canary ? `the canary is now ${state.canary.version}` : 'no canary runs'}; current ${state.current ?? 'none'})`);
    }
  }

  private change(event: Event, at: Date, apply: (state: RegistryState) => RegistryState | undefined): Promise<RegistryState> {
    const change: RegistryChange = { event: event.action, version: event.version, by: event.by, reason: event.reason, at, apply };
    return this.store.change(this.station, change);
  }

  private async writeCurrentFile(state: RegistryState): Promise<void> {
    if (state.current === null) fs.rmSync(this.currentFile, { force: true });
    else writeAtomically(this.currentFile, fs.readFileSync(await this.materialise({ version: state.current }, state)));
  }
}
