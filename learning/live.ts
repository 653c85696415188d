/**
 * The learning registry on live steps, as the worker's activities see it: which model file answers a
 * learnable station's small-tier call (the current version, or during a canary the canary for its
 * share of items and the stable version for the rest), whether a shadow candidate answers next to it,
 * and — when the job settles the step — the observations that measure them. Settling runs the canary
 * monitor: when live agreement with escalations and reviews falls below the gate the registry rolls
 * the canary back, and when it held long enough the canary serves all traffic. The registry is read
 * through its store's mirror (the file re-read when it changes; the shared store refreshed when any host
 * changes it), so promotions, canaries and rollbacks take effect without a worker restart.
 */
import type { ModelSpec } from '../domain/models';
import { superviseCanary, type SupervisedDecision } from './canary';
import { ModelRegistry, openRegistryStore, registryStoreOf, type RegistryStore, type ServingChoice } from './model-registry';
import { openObservationRepository, type ObservationRepository, type ObservationRole, type SettleObservation } from './observations';
import type { LiveAgreement, RegistryState } from './types';

export interface CanaryOutcome {
  station: string;
  version: string;
  /** What the monitor judged, and whether the registry applied it or another monitor had decided first. */
  decision: SupervisedDecision;
}

export interface LiveModelsOptions {
  /** Where observations are kept (default: opened from the data dir and the database URL, and closed with these). */
  observations?: ObservationRepository;
  /** The PostgreSQL every host shares (settings.databaseUrl): observations live there instead of under the data dir. */
  databaseUrl?: string;
  /** Where the learning registry is kept (default: opened from the data dir and the database URL, and closed with these). */
  registryStore?: RegistryStore;
  log?: (message: string) => void;
}

export class LiveModels {
  private readonly registries = new Map<string, ModelRegistry>();
  private ownRegistryStore: RegistryStore | undefined;
  private ownStore: ObservationRepository | undefined;
  private readonly log: (message: string) => void;

  constructor(
    readonly dataDir: string,
    private readonly options: LiveModelsOptions = {},
  ) {
    this.log = options.log ?? ((message) => console.warn(message));
  }

  get registryStore(): RegistryStore {
    if (this.options.registryStore) return this.options.registryStore;
    if (!this.options.databaseUrl) return registryStoreOf(this.dataDir);
    return (this.ownRegistryStore ??= openRegistryStore({ dataDir: this.dataDir, databaseUrl: this.options.databaseUrl, log: this.log }));
  }

  get observations(): ObservationRepository {
    return this.options.observations ?? (this.ownStore ??= openObservationRepository({ dataDir: this.dataDir, databaseUrl: this.options.databaseUrl }));
  }

  /** Whether the registry has a say in a learnable station's call to this model: only its small local model's. */
  applies(model: ModelSpec | undefined): model is ModelSpec {
    return model !== undefined && model.provider === 'local' && model.tier === 'small';
  }

  /** The station's registry and its state as this process mirrors it. */
  async registry(station: string): Promise<{ registry: ModelRegistry; state: RegistryState }> {
    let registry = this.registries.get(station);
    if (!registry) this.registries.set(station, (registry = new ModelRegistry(this.registryStore, station)));
    return { registry, state: await registry.mirrored() };
  }

  /**
   * The serving choice for the item, with the model options that load it (undefined: the worker's
   * default model); `modelFileOption` is the option the station's classifier reads a model file from.
   */
  async serving(station: string, modelFileOption: string, itemKey: string): Promise<{ choice: ServingChoice; modelOptions: Record<string, unknown> } | undefined> {
    const { registry, state } = await this.registry(station);
    const choice = registry.servingFor(itemKey, state);
    if (!choice) return undefined;
    const file = await registry.materialise(choice, state);
    return { choice: { ...choice, file }, modelOptions: { [modelFileOption]: file } };
  }

  async shadow(station: string, modelFileOption: string): Promise<{ version: string; modelOptions: Record<string, unknown> } | undefined> {
    const { registry, state } = await this.registry(station);
    const shadow = registry.shadowOf(state);
    return shadow ? { version: shadow.version, modelOptions: { [modelFileOption]: await registry.materialise(shadow, state) } } : undefined;
  }

  async record(role: ObservationRole, observation: { station: string; version: string; jobId: string; stepId: string; candidateLabel: string }): Promise<void> {
    await this.observations.record({ ...observation, role });
  }

  /** Writes the accepted answer beside the step's observations, then lets the canary monitor decide. */
  async settle(settled: SettleObservation): Promise<CanaryOutcome | undefined> {
    const roles = await this.observations.settle(settled);
    // The registry as mirrored; the decision is applied to the newest state, guarded by the canary's version.
    const { registry, state } = await this.registry(settled.station);
    const canary = state.canary;
    if (!canary || !roles.some((row) => row.role === 'canary' && row.version === canary.version)) return undefined;
    const agreement = await this.observations.agreement(settled.station, canary.version, 'canary', canary.since);
    const decision = await superviseCanary(registry, agreement.checked, canary, 'canary-monitor', canary.version, agreement.all.n);
    if (decision.kind === 'rollback' || decision.kind === 'keep') {
      // For the operator: how the version it replaces did on its share over the same time.
      const stable = canary.stable === null ? undefined : (await this.observations.agreement(settled.station, canary.stable, 'stable', canary.since)).checked;
      if (stable && stable.n > 0) decision.reason += `; the stable ${canary.stable} had ${(stable.agreement * 100).toFixed(1)}% over ${stable.n} checked items meanwhile`;
    }
    // Only the monitor whose decision the registry applied claims it; the others say they were refused.
    if (decision.outcome === 'applied') this.log(`conveyor: canary ${canary.version} of ${settled.station}: ${decision.kind} — ${decision.reason}`);
    if (decision.outcome === 'refused') this.log(`conveyor: canary ${canary.version} of ${settled.station}: this monitor's ${decision.kind} was refused, another decided first — ${decision.refusal}`);
    return { station: settled.station, version: canary.version, decision };
  }

  agreement(station: string, version: string, role: ObservationRole, since: string): Promise<LiveAgreement> {
    return this.observations.agreement(station, version, role, since);
  }

  async close(): Promise<void> {
    await this.ownStore?.close();
    this.ownStore = undefined;
    await this.ownRegistryStore?.close();
    this.ownRegistryStore = undefined;
  }
}
