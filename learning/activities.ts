/**
 * The learning loop's activities: `collectExample` (called by the job workflow when a step escalated
 * and a larger tier or a reviewer produced the accepted answer) and the distill workflow's steps —
 * curate, train, evaluate (with the gate), promote, roll back. Built from their dependencies like
 * the factory's other activities; they read and write the data dir the worker is given.
 */
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { evaluationTarget, EvaluationTargetError, type EvaluationTarget } from '../evaluation/eval/target';
import type { Factory } from '../factory/define';
import { InvalidTrainingDataError } from '../providers/local/errors';
import { DistillArtifactMissingError, openDistillArtifacts, type DistillArtifactStore } from './distill-artifacts';
import { ExampleStore } from './example-store';
import { openExampleRepository, sqliteExampleRepository, type ExampleRepository } from './example-repository';
import { LiveModels, type CanaryOutcome } from './live';
import { ModelRegistry, ModelRegistryError } from './model-registry';
import type { SettleObservation } from './observations';
import { curateRun, evaluateCandidate, runDirOf, trainCandidate, writeDistillReport } from './pipeline';
import { closeAll } from '../platform/resources';
import { collectExampleRequestSchema, distillRequestSchema, type CanarySettings, type LiveAgreement, type CollectExampleRequest, type CollectedExample, type CuratedRun, type DistillReport, type DistillRequest, type DistillSettings, type RegistryState, type TrainedCandidate } from './types';

export interface LearningDependencies {
  /** The worker's factory: a distill run trains and judges one of its learnable classifier stations. */
  factory: Factory;
  /** The worker's data dir ($CONVEYOR_DATA_DIR): example store, registry, run folders. */
  dataDir: string;
  /** Defaults to PostgreSQL when `databaseUrl` is given, Redis when CONVEYOR_EXAMPLES_REDIS_URL is set, else `$dataDir/examples.sqlite`. */
  exampleStore?: ExampleStore | ExampleRepository;
  /** The PostgreSQL every host shares (settings.databaseUrl): collected examples and, unless `live` is given, observations live there. */
  databaseUrl?: string;
  /** Shared with the model activities, which record shadow and canary answers (default: one of its own). */
  live?: LiveModels;
  /** Where a distill run's activities leave their files for the next (default: PostgreSQL with `databaseUrl`, else the run folder). */
  distillArtifacts?: DistillArtifactStore;
  env?: NodeJS.ProcessEnv;
}

/** The distill request is not usable (bad field, missing file); the message names it. Not retryable. */
export class InvalidDistillRequestError extends Error {
  override readonly name = 'InvalidDistillRequestError';
}

function nonRetryable(error: unknown): never {
  if (
    error instanceof InvalidDistillRequestError ||
    error instanceof InvalidTrainingDataError ||
    error instanceof ModelRegistryError ||
    error instanceof EvaluationTargetError ||
    error instanceof DistillArtifactMissingError
  ) {
    throw ApplicationFailure.create({ type: error.name, message: error.message, nonRetryable: true });
  }
  throw error;
}

export function parseDistillRequest(raw: DistillRequest): DistillSettings {
  const parsed = distillRequestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new InvalidDistillRequestError(`distill request: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || '(request)'}: ${issue.message}`).join('; ')}`);
  }
  if (parsed.data.requiredApprovals > new Set(parsed.data.reviewers).size) {
    throw new InvalidDistillRequestError(`distill request: ${parsed.data.requiredApprovals} approvals need as many different reviewers; got ${parsed.data.reviewers.join(', ')}`);
  }
  return parsed.data;
}

export function createLearningActivities(deps: LearningDependencies) {
  let ownStore: ExampleRepository | undefined;
  const given = deps.exampleStore instanceof ExampleStore ? sqliteExampleRepository(deps.exampleStore) : deps.exampleStore;
  const store = () => given ?? (ownStore ??= openExampleRepository(deps.dataDir, deps.env, deps.databaseUrl));
  let ownLive: LiveModels | undefined;
  const live = () => deps.live ?? (ownLive ??= new LiveModels(deps.dataDir, { databaseUrl: deps.databaseUrl }));
  // The registry the live models serve: shared through PostgreSQL when the worker has a database URL.
  const registryOf = (station: string) => new ModelRegistry(live().registryStore, station);
  const targetOf = (station: string): EvaluationTarget => evaluationTarget(deps.factory, { station });
  // A run's activities may run on different hosts: each reads what the one before left through this store.
  let ownArtifacts: DistillArtifactStore | undefined;
  const artifacts = () => deps.distillArtifacts ?? (ownArtifacts ??= openDistillArtifacts(deps.databaseUrl));
  const runDirHere = (station: string, runId: string) => runDirOf(deps.dataDir, station, runId);

  const activities = {
    /** Stores the accepted answer of an escalated or reviewer-edited step as a training example (idempotent per step). */
    async collectExample(request: CollectExampleRequest): Promise<{ id: string; stored: boolean; example: Omit<CollectedExample, 'text'> }> {
      const parsed = collectExampleRequestSchema.safeParse(request);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(example)'}: ${issue.message}`).join('; ');
        throw ApplicationFailure.create({ type: 'InvalidExampleError', message: `collectExample: ${problems}`, nonRetryable: true });
      }
      const { example, stored } = await store().collect(parsed.data);
      const { text: _text, ...withoutText } = example;
      return { id: example.id, stored, example: withoutText };
    },

    /** Validates the request, then writes the run's training and held-out files. */
    async curateDistillData(input: { request: DistillRequest; runId: string }): Promise<{ settings: DistillSettings; curated: CuratedRun }> {
      try {
        const settings = parseDistillRequest(input.request);
        const collected = await store().examples(settings.station);
        const curated = curateRun({ settings, runId: input.runId, dataDir: deps.dataDir, collected });
        await artifacts().put(input.runId, curated.trainFile);
        await artifacts().put(input.runId, curated.heldOutFile);
        return { settings, curated };
      } catch (error) {
        return nonRetryable(error);
      }
    },

    async trainDistillCandidate(input: { settings: DistillSettings; curated: CuratedRun }): Promise<TrainedCandidate> {
      try {
        const { runId } = input.curated;
        const trainFile = await artifacts().get(runId, input.curated.trainFile, runDirHere(input.settings.station, runId));
        const candidate = trainCandidate({ target: targetOf(input.settings.station), trainFile, runDir: path.dirname(trainFile), size: input.settings.size, seed: input.settings.seed });
        await artifacts().put(runId, candidate.file);
        return candidate;
      } catch (error) {
        return nonRetryable(error);
      }
    },

    /** Evaluates candidate and current model, applies the gate, registers the candidate and writes the report files. */
    async evaluateDistillCandidate(input: { settings: DistillSettings; curated: CuratedRun; candidate: TrainedCandidate }): Promise<DistillReport> {
      const heartbeat = setInterval(() => Context.current().heartbeat('evaluating'), 5_000);
      try {
        const { runId } = input.curated;
        const here = runDirHere(input.settings.station, runId);
        const candidateFile = await artifacts().get(runId, input.candidate.file, here);
        const report = await evaluateCandidate({
          target: targetOf(input.settings.station),
          settings: input.settings,
          runId,
          runDir: path.dirname(candidateFile),
          candidateFile,
          heldOutFile: await artifacts().get(runId, input.curated.heldOutFile, here),
          curation: input.curated,
          registry: registryOf(input.settings.station),
          env: deps.env,
        });
        await artifacts().put(runId, report.files.json);
        await artifacts().put(runId, report.files.markdown);
        return report;
      } catch (error) {
        return nonRetryable(error);
      } finally {
        clearInterval(heartbeat);
      }
    },

    /**
     * A step whose model call had a shadow or a canary is settled: the accepted answer is written next to
     * their answers, and the canary monitor may roll the canary back or keep it (returned for the job's record).
     */
    async settleObservations(input: SettleObservation): Promise<CanaryOutcome | null> {
      return (await live().settle(input)) ?? null;
    },

    async startShadow(input: { station: string; version: string; by: string; reason: string }): Promise<RegistryState> {
      try {
        return await registryOf(input.station).startShadow(input.version, input.by, input.reason);
      } catch (error) {
        return nonRetryable(error);
      }
    },

    async stopShadow(input: { station: string; by: string; reason: string }): Promise<RegistryState> {
      return registryOf(input.station).stopShadow(input.by, input.reason);
    },

    async liveAgreement(input: { station: string; version: string; role: 'shadow' | 'canary' | 'stable'; since: string }): Promise<LiveAgreement> {
      return live().agreement(input.station, input.version, input.role, input.since);
    },

    /** Writes the report files again with the shadow's outcome in them. */
    async writeDistillReport(input: { report: DistillReport }): Promise<void> {
      const { report } = input;
      // On another host than the one that evaluated, the files go to this host's run folder (and the shared store).
      const here = artifacts().kind === 'file' ? undefined : runDirHere(report.station, report.runId);
      const files = here ? { ...report.files, json: path.join(here, path.basename(report.files.json)), markdown: path.join(here, path.basename(report.files.markdown)) } : report.files;
      writeDistillReport({ ...report, files });
      await artifacts().put(report.runId, files.json);
      await artifacts().put(report.runId, files.markdown);
    },

    async promoteModelVersion(input: { station: string; version: string; by: string; reason: string; canary?: CanarySettings }): Promise<RegistryState> {
      try {
        return await registryOf(input.station).promote(input.version, input.by, input.reason, new Date(), input.canary);
      } catch (error) {
        return nonRetryable(error);
      }
    },

    async rollbackModelVersion(input: { station: string; by: string; reason: string }): Promise<RegistryState> {
      try {
        return await registryOf(input.station).rollback(input.by, input.reason);
      } catch (error) {
        return nonRetryable(error);
      }
    },

    async currentModelVersion(input: { station: string }): Promise<string | null> {
      return (await registryOf(input.station).state()).current;
    },
  };
  // Every property of the record is an activity, so what closes the stores it opened is kept beside it.
  ownedStores.set(activities, async () => {
    const opened = [ownStore, ownLive, ownArtifacts];
    [ownStore, ownLive, ownArtifacts] = [undefined, undefined, undefined];
    await closeAll(opened);
  });
  return activities;
}

const ownedStores = new WeakMap<object, () => Promise<void>>();

/**
 * Closes the stores a record of learning activities opened itself (the example store, live models and
 * distill artifacts it was not given); what was passed in stays open. Calls made after it open them again.
 */
export async function closeLearningActivities(activities: LearningActivities): Promise<void> {
  await ownedStores.get(activities)?.();
}

export type LearningActivities = ReturnType<typeof createLearningActivities>;
