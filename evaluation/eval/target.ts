/**
 * What an evaluation measures: one learnable classifier station of a factory (a station whose `local` is
 * a `localClassifier` and which names its `learnable` field), decided the way one of the factory's job
 * types runs it — that job type's threshold for the station, budget, over-budget rule and long-input
 * rule. `conveyor eval`, the scheduled evaluation and the distill gate all take their target from here,
 * so they work for any factory, not only the built-in one.
 *
 * A classifier trained on a dataset's own labels (77 banking intents, 150 assistant intents, …) answers
 * outside the station's label set; `withModelLabels` gives the target a copy of the station that admits
 * the model's labels — its classifier's `labels` and, for a string label field, its output schema's
 * field — so the engine's own local provider and gateway serve it. Routing, thresholds, escalation and
 * cost accounting stay exactly the factory's.
 */
import { z } from 'zod';
import { labelFrom } from '../../domain/learnable';
import { isActionStep, type StationStep } from '../../domain/recipe';
import { defineFactory } from '../../factory';
import type { AnyJobType, AnyStation, Factory, LearnableField, LocalClassifier } from '../../factory/define';
import { resolvePolicy, type ResolvedJobPolicy } from '../../factory/snapshot';

/** The model option the opened station's classifier reads the model under evaluation from. */
export const EVAL_MODEL_FILE_OPTION = 'evaluatedModelFile';

/** The factory has no station or job type an evaluation can use as asked; the message says which and why. */
export class EvaluationTargetError extends Error {
  override readonly name = 'EvaluationTargetError';
}

export interface EvaluationTarget {
  factory: Factory;
  station: AnyStation;
  classifier: LocalClassifier;
  learnable: LearnableField;
  /** The job type whose policy decides the station's steps (and whose jobs a durable run starts). */
  jobType: AnyJobType;
  /** Its policy, defaults filled in. */
  policy: ResolvedJobPolicy;
  /** The job input field the station's text is wired from (`$job.<field>`), for durable runs… */
  jobTextField?: string;
  /** …or why items cannot run as jobs of the job type (the text is wired from an earlier step). */
  jobTextProblem?: string;
}

/** What a caller may choose; each is otherwise found (see `evaluationTarget`). */
export interface TargetChoice {
  station?: string;
  jobType?: string;
}

const isLearnableClassifier = (station: AnyStation): boolean => station.learnable !== undefined && typeof station.local === 'object' && station.local.kind === 'classifier';

/** The factory's stations an evaluation or a distill run can measure, in definition order. */
export function learnableClassifierStations(factory: Factory): AnyStation[] {
  return [...factory.stations.values()].filter(isLearnableClassifier);
}

/** The name of the station a distill or evaluation uses when none is given: the factory's first learnable classifier. */
export function defaultLearnableStation(factory: Factory): string {
  const first = learnableClassifierStations(factory)[0];
  if (!first) throw new EvaluationTargetError(noLearnableStation(factory));
  return first.name;
}

function noLearnableStation(factory: Factory): string {
  return `factory ${factory.name} has no learnable classifier station (a station with local: localClassifier(…) and a learnable field), so there is no model to evaluate or distill`;
}

function stationStepsOf(jobType: AnyJobType, station: string): StationStep[] {
  return jobType.recipe.steps.filter((step): step is StationStep => !isActionStep(step) && step.station === station);
}

/**
 * The evaluation target for a factory: the station named (default: its first learnable classifier) and
 * the job type named (default: among the job types whose recipe runs that station, one whose recipe is
 * that single step, else the first). Every refusal names the factory, the station or job type, and the fix.
 */
export function evaluationTarget(factory: Factory, choice: TargetChoice = {}): EvaluationTarget {
  const stationName = choice.station ?? defaultLearnableStation(factory);
  const station = factory.stations.get(stationName);
  if (!station) throw new EvaluationTargetError(`factory ${factory.name} has no station "${stationName}" (learnable classifier stations: ${learnableClassifierStations(factory).map((s) => s.name).join(', ') || 'none'})`);
  if (!isLearnableClassifier(station)) {
    const missing = station.learnable === undefined ? 'names no learnable field' : 'is not answered offline by a localClassifier(…)';
    throw new EvaluationTargetError(`station ${station.name} of factory ${factory.name} ${missing}: only a station with both (local: localClassifier(…) and learnable) can be evaluated or distilled`);
  }

  const running = [...factory.jobTypes.values()].filter((jobType) => stationStepsOf(jobType, station.name).length > 0);
  let jobType: AnyJobType | undefined;
  if (choice.jobType !== undefined) {
    jobType = factory.jobTypes.get(choice.jobType);
    if (!jobType) throw new EvaluationTargetError(`factory ${factory.name} has no job type "${choice.jobType}" (job types: ${[...factory.jobTypes.keys()].join(', ')})`);
    if (!running.includes(jobType)) {
      throw new EvaluationTargetError(`job type ${jobType.name} has no step that runs station ${station.name}; job types that do: ${running.map((j) => j.name).join(', ') || 'none'}`);
    }
  } else {
    jobType = running.find((candidate) => candidate.recipe.steps.length === 1) ?? running[0];
    if (!jobType) throw new EvaluationTargetError(`no job type of factory ${factory.name} runs station ${station.name}: an evaluation decides its steps with a job type's policy, so define one (a one-step recipe is enough)`);
  }

  const learnable = station.learnable!;
  const step = stationStepsOf(jobType, station.name)[0]!;
  const wire = step.inputs[learnable.text];
  const jobTextField = typeof wire === 'string' ? /^\$job\.([\w-]+)$/.exec(wire)?.[1] : undefined;
  return {
    factory,
    station,
    classifier: station.local as LocalClassifier,
    learnable,
    jobType,
    policy: resolvePolicy(factory, jobType.name),
    ...(jobTextField ? { jobTextField } : { jobTextProblem: `job type ${jobType.name}, step "${step.id}": the station's text field "${learnable.text}" must be wired from one job input field ($job.<field>) to run evaluation items as jobs; it is ${wire === undefined ? 'not wired' : `"${String(wire)}"`}` }),
  };
}

/** The station's input for one evaluation text. */
export function stationInputOf(target: EvaluationTarget, text: string): Record<string, string> {
  return { [target.learnable.text]: text };
}

/** The job input for one evaluation text (durable runs start one job per item). */
export function jobInputOf(target: EvaluationTarget, text: string): Record<string, string> {
  if (!target.jobTextField) throw new EvaluationTargetError(target.jobTextProblem ?? `job type ${target.jobType.name}: no job input field to put an item's text in`);
  return { [target.jobTextField]: text };
}

/** The label an answer of the target's station carries (undefined when it carries none). */
export function labelOfAnswer(target: EvaluationTarget, output: unknown): string | undefined {
  return labelFrom(target.learnable, output);
}

/** The threshold the target's job type applies to its station, or an override. */
export function thresholdOf(target: EvaluationTarget, override?: number): number {
  return override ?? target.policy.confidenceThresholds[target.station.name] ?? target.station.confidenceThreshold;
}

/**
 * The target with its station answering from the model under evaluation, with the model's own labels:
 * the classifier reads its file from `EVAL_MODEL_FILE_OPTION`, its `labels` admit the model's too, and a
 * string label field of an object output schema accepts any non-empty label. A boolean label field has
 * exactly its two names, so a model with other labels is refused. The copy has no `learnable` field, so
 * a durable run's jobs neither collect examples nor take a model from the learning registry: they run
 * the model under evaluation, as the offline run does. The factory is rebuilt around the copy (for the
 * durable run's worker); its other definitions are the same objects.
 */
export function withModelLabels(target: EvaluationTarget, labels: readonly string[]): EvaluationTarget {
  const { station, learnable } = target;
  let output = station.output;
  if (learnable.booleanLabels) {
    const names = [learnable.booleanLabels.true, learnable.booleanLabels.false];
    const foreign = labels.filter((label) => !names.includes(label));
    if (foreign.length > 0) {
      throw new EvaluationTargetError(`station ${station.name} labels its answers ${names.join(' or ')} (a boolean field "${learnable.label}"); the model has other labels: ${foreign.slice(0, 5).join(', ')}`);
    }
  } else if (station.output instanceof z.ZodObject) {
    output = station.output.extend({ [learnable.label]: z.string().min(1) });
  } else if (labels.some((label) => !target.classifier.labels.includes(label))) {
    throw new EvaluationTargetError(`station ${station.name}: its output schema is not an object, so its label field "${learnable.label}" cannot be opened to the model's own labels`);
  }
  // The station's own labels stay: the other local tiers answer with the station's default model.
  const admitted = [...new Set([...target.classifier.labels, ...labels])];
  const classifier: LocalClassifier = Object.freeze({ ...target.classifier, labels: Object.freeze(admitted), modelFileOption: EVAL_MODEL_FILE_OPTION });
  const { learnable: _learnable, ...unlearnable } = station;
  const opened: AnyStation = Object.freeze({ ...unlearnable, output, local: classifier });
  const factory = defineFactory({
    name: target.factory.name,
    version: target.factory.version,
    stations: [...target.factory.stations.values()].map((candidate) => (candidate === station ? opened : candidate)),
    actions: [...target.factory.actions.values()],
    jobTypes: [...target.factory.jobTypes.values()],
  });
  return { ...target, factory, station: opened, classifier };
}
