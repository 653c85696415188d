/**
 * The public definition API: how a team describes its factory — stations (typed model steps), actions
 * (what the factory does once a proposal is approved) and job types (recipes wired from stations and
 * actions, with their policies). Definitions hold the team's functions (prompts, confidence rules,
 * sensitivity, execute); the engine runs those only in activities. What workflows read is the plain-data
 * snapshot of a definition (factory/snapshot.ts), so changing a definition never changes a job in flight.
 */
import type { z } from 'zod';
import type { Tier } from '../domain/models';

/** The version of this definition API; `factory show` prints it and snapshots record it. */
export const DEFINITION_API_VERSION = 1;

// ---- stations ------------------------------------------------------------------------------------

/**
 * Which number a station's confidence is, the one routing compares with its threshold. Explicit, so an
 * answer that carries no probability never gets a silent constant:
 * - `{ from: 'model' }`: the model's own probability (the offline classifiers give calibrated ones); an
 *   answer without one is accepted unscored, and `factory show` says so.
 * - `{ from: 'model', otherwise: 0.8 }`: the model's probability, else the stated value.
 * - `{ from: 'field', field: 'confidence' }`: a number in [0, 1] the output itself carries.
 * - a function `(output, modelConfidence) => number`: the station's own rule.
 */
export type ConfidenceRule<O = unknown> =
  | { from: 'model'; otherwise?: number }
  | { from: 'field'; field: string }
  | LogprobsConfidence
  | SamplesConfidence
  | LearnedScorerConfidence
  | CheaperTierConfidence
  | ((output: O, modelConfidence: number | null) => number);

/**
 * - `{ from: 'logprobs' }`: asks OpenAI-compatible endpoints for token log-probabilities and scores the
 *   answer by the probability of the tokens that spell `field`'s value (default: the `learnable` label
 *   field, else the whole answer). Local classifiers give their calibrated probability; an answer with
 *   neither gets `otherwise`, or is accepted unscored.
 */
export interface LogprobsConfidence {
  from: 'logprobs';
  field?: string;
  otherwise?: number;
}

/**
 * - `{ from: 'samples', k: 5 }`: the model answers k times (the first at the step's temperature, the others
 *   at `temperature`, default 0.7); the confidence is the share of the k answers that agree with the first on
 *   `field` (default: the `learnable` label field, else the whole answer). Costs k calls, all in the ledger.
 */
export interface SamplesConfidence {
  from: 'samples';
  k: number;
  temperature?: number;
  field?: string;
}

/**
 * - `{ from: 'scorer', id: 'intent-scorer' }`: a learned scorer from the learning registry
 *   (`conveyor learning` / learning/scorer.ts), trained on recorded, checked outcomes, gives P(the answer
 *   is right) from the input text (the `learnable` text field), the answer's label and the model's own
 *   probability. `version` pins one (default: the registry's current one).
 */
export interface LearnedScorerConfidence {
  from: 'scorer';
  id: string;
  version?: string;
  otherwise?: number;
}

/**
 * - `{ from: 'cheaper-tier' }`: the answer is checked against a cheaper tier's answer to the same input,
 *   compared on `field` (default: the `learnable` label field, else the whole answer): `agree` (default
 *   0.95) when they match, `disagree` (default 0.4) when they do not. The cheaper answer is the one this
 *   step already got at a lower tier before it escalated (no extra call); a step that started above the
 *   cheapest tier asks the cheapest model of the nearest lower tier once, its tokens and cost added to the
 *   answer's. An answer at the cheapest tier has none below it: the model's own probability, else
 *   `otherwise`, else it is accepted unscored. The ledger's scorer is `cheaper-tier:<model id>`.
 */
export interface CheaperTierConfidence {
  from: 'cheaper-tier';
  field?: string;
  agree?: number;
  disagree?: number;
  otherwise?: number;
}

/**
 * How the offline default (the `local` provider, no network) answers a station: a classifier the engine
 * trains from a labelled file the factory names (`localClassifier`), or the team's own function (an
 * extractor, rules, templates). Without one, offline the step escalates.
 */
export type LocalAnswer<I = unknown, O = unknown> =
  | LocalClassifier<I, O>
  | ((input: I, context: LocalAnswerContext) => LocalAnswerResult<O> | Promise<LocalAnswerResult<O>>);

/** What the engine's classifier found: the top label, its calibrated probability, and every label ranked. */
export interface ClassifierAnswer {
  label: string;
  confidence: number;
  ranked: { label: string; probability: number }[];
}

/**
 * A text classifier the engine's local provider trains and runs for a station: a calibrated logistic
 * regression over hashed n-grams (see providers/local/README.md), trained on first use from
 * `trainingFile`, with the tier's features (local-small, -medium, -large). Plain data and two pure
 * functions, so a definition that holds one stays importable from workflow code.
 */
export interface LocalClassifier<I = unknown, O = unknown> {
  readonly kind: 'classifier';
  /** Names the model: its cache file (`<name>-<size>.json`) and its version (`<name>-lr@1:<hash>`). */
  readonly name: string;
  /** Absolute path of a labelled CSV (header `text,label`) or JSON Lines file (`{"text", "label"}`). */
  readonly trainingFile: string;
  /** The labels it may answer; a saved model file with any other label is refused. */
  readonly labels: readonly string[];
  /** The registry model option that may name a saved model (from `conveyor train`) to use instead. */
  readonly modelFileOption?: string;
  /** The text to classify, from the station's input. */
  text(input: I): string;
  /** The station's output, from the classifier's answer. */
  output(answer: ClassifierAnswer): O;
}

export function localClassifier<I, O>(spec: Omit<LocalClassifier<I, O>, 'kind'>): LocalClassifier<I, O> {
  return Object.freeze({ kind: 'classifier' as const, ...spec, labels: Object.freeze([...spec.labels]) });
}

export interface LocalAnswerContext {
  /** The registry model asked: its id, tier and `options` (e.g. a model file the registry names). */
  model: { id: string; tier: Tier; options: Record<string, unknown> };
}

export interface LocalAnswerResult<O = unknown> {
  output: O;
  /** A probability in [0, 1] where the answerer has one. */
  confidence?: number;
  /** Recorded in the ledger (e.g. the version of a model file). */
  modelVersion?: string;
}

/** What the learning loop trains a station on: the label field of its output and the text field of its input. */
export interface LearnableField {
  /** The output field holding the label (a string or a boolean). */
  label: string;
  /** The input field holding the text the label describes. */
  text: string;
  /** Label names for a boolean label field, e.g. `{ true: 'relevant', false: 'irrelevant' }`. */
  booleanLabels?: { true: string; false: string };
}

export interface StationDefinition<I = unknown, O = unknown> {
  readonly kind: 'station';
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<I>;
  readonly output: z.ZodType<O>;
  readonly prompt: (input: I) => { system: string; user: string };
  readonly defaultTier: Tier;
  /** Answers whose confidence is below this escalate to the next tier, then to a person. */
  readonly confidenceThreshold: number;
  readonly confidence: ConfidenceRule<O>;
  /** Upper bound on output tokens: caps the answer and estimates its cost before the call. */
  readonly maxOutputTokens: number;
  /** Offline, without it the local model cannot answer and the step escalates. */
  readonly local?: LocalAnswer<I, O>;
  readonly learnable?: LearnableField;
}

export interface StationSpec<I, O> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  output: z.ZodType<O>;
  prompt(input: I): { system: string; user: string };
  defaultTier: Tier;
  confidenceThreshold: number;
  confidence?: ConfidenceRule<O>;
  maxOutputTokens?: number;
  local?: LocalAnswer<I, O>;
  learnable?: LearnableField;
}

export const DEFAULT_MAX_OUTPUT_TOKENS = 500;

export function defineStation<I, O>(spec: StationSpec<I, O>): StationDefinition<I, O> {
  return Object.freeze({
    kind: 'station' as const,
    ...spec,
    confidence: spec.confidence ?? ({ from: 'model' } as ConfidenceRule<O>),
    maxOutputTokens: spec.maxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
  });
}

// ---- actions -------------------------------------------------------------------------------------

/** What a sensitivity rule sees of the job: its input and the outputs and confidences of the steps before. */
export interface JobView {
  jobId: string;
  jobType: string;
  input: unknown;
  outputs: Readonly<Record<string, unknown>>;
  confidences: Readonly<Record<string, number | null>>;
}

/** Why a proposal needs a person; `approvals: 2` asks for two different reviewers. */
export type Sensitivity = string | { reason: string; approvals?: 1 | 2 } | undefined;

export interface ActionContext {
  /** `<jobId>:<stepId>`: the same on every retry, after a worker crash and after a replay. */
  idempotencyKey: string;
  jobId: string;
  stepId: string;
  /** The reviewers who approved it (empty when the policy let it run on its own). */
  approvedBy: string[];
  /** Aborted when Temporal cancels the activity (the job was cancelled or the worker shuts down). */
  signal: AbortSignal;
  /** 1 for the first attempt under this key, 2 for the first retry, … */
  attempt: number;
  /**
   * When the workflow first asked for this action (the same on every attempt under a key): the time to
   * put in what you send, so a retry sends the same bytes.
   */
  requestedAt: string;
  /**
   * A secret from the worker's environment (the variable you name), read at each attempt so a rotation
   * needs only a worker restart. Throws an error naming the variable when it is unset; never put what it
   * returns in a receipt, an error or a log.
   */
  secret(variable: string): string;
  /**
   * Writes the action to the worker's action log (`$CONVEYOR_DATA_DIR/outbox.sqlite`, or PostgreSQL with
   * `CONVEYOR_DATABASE_URL`) once per idempotency key: a log for demos and tests, not a delivery to any system.
   */
  localLog(receipt?: Record<string, string | number | boolean | null>): Promise<{ firstExecution: boolean; executedAt: string }>;
}

/**
 * Throw from `execute` when retrying cannot help (the remote system refused the request): the job waits as
 * a failed action for a reviewer's decision. `evidence` is shown to the reviewer (no secrets).
 */
export class PermanentActionError extends Error {
  override readonly name = 'PermanentActionError';
  constructor(
    message: string,
    readonly evidence: { status?: number; bodyExcerpt?: string } = {},
  ) {
    super(message);
  }
}

/**
 * Throw from `execute` when a later attempt may succeed and the remote system said when (Retry-After).
 * Any other error is retried too, with the action's backoff.
 */
export class RetryableActionError extends Error {
  override readonly name = 'RetryableActionError';
  constructor(
    message: string,
    readonly options: { retryAfterMs?: number; status?: number; bodyExcerpt?: string } = {},
  ) {
    super(message);
  }
}

export type { ActionRetryPolicy } from '../domain/actions';
import type { ActionRetryPolicy } from '../domain/actions';

/** What `execute` may return: kept in the job's record, the ledger and the audit export. */
export type ActionReceipt = Record<string, string | number | boolean | null> | undefined | void;

export interface ActionDefinition<P = unknown, S = unknown> {
  readonly kind: 'action';
  readonly name: string;
  readonly description: string;
  readonly proposal: z.ZodType<P>;
  /** The schema of this action's settings in a job type's policy (`policy.actions[name]`). */
  readonly settings?: z.ZodType<S>;
  readonly sensitivity?: (proposal: P, settings: S, job: JobView) => Sensitivity;
  /** Why this proposal means "do nothing" (then nothing runs and nobody is asked), or undefined. */
  readonly skip?: (proposal: P) => string | undefined;
  readonly execute: (proposal: P, context: ActionContext) => Promise<ActionReceipt>;
  readonly retry?: ActionRetryPolicy;
  /** The longest one attempt may take (default 60 s); a slower attempt is abandoned and retried. */
  readonly timeoutMs?: number;
}

export interface ActionSpec<P, S> {
  name: string;
  description: string;
  proposal: z.ZodType<P>;
  settings?: z.ZodType<S>;
  sensitivity?(proposal: P, settings: S, job: JobView): Sensitivity;
  skip?(proposal: P): string | undefined;
  execute(proposal: P, context: ActionContext): Promise<ActionReceipt>;
  retry?: ActionRetryPolicy;
  timeoutMs?: number;
}

export function defineAction<P, S = Record<string, never>>(spec: ActionSpec<P, S>): ActionDefinition<P, S> {
  return Object.freeze({ kind: 'action' as const, ...spec });
}

/**
 * An action whose effect is a row in the worker's action log (`$CONVEYOR_DATA_DIR/outbox.sqlite`, or
 * PostgreSQL with `CONVEYOR_DATABASE_URL`), once per idempotency key. Honest about what it is: a log for
 * demos and tests, which reaches no system. Real effects are a `webhookAction` or your own `execute`. `receipt` says what to keep.
 */
export function localLogAction<P, S = Record<string, never>>(
  spec: Omit<ActionSpec<P, S>, 'execute'> & { receipt?: (proposal: P) => Record<string, string | number | boolean | null> },
): ActionDefinition<P, S> {
  const { receipt, ...action } = spec;
  return defineAction<P, S>({
    ...action,
    execute: async (proposal, context) => {
      const kept = receipt?.(proposal);
      await context.localLog(kept);
      return kept;
    },
  });
}

// ---- job types -----------------------------------------------------------------------------------

export type { RecipeStep, Wire } from '../domain/recipe';
import type { RecipeStep } from '../domain/recipe';

export interface ApprovalPolicySpec {
  /** Who may decide. '*' allows anyone (demos only). */
  reviewers: string[];
  /** Who decides after the first timeout when onTimeout is 'escalate'. */
  escalationReviewers?: string[];
  timeoutMs: number;
  /** What a timeout does. A job whose input was flagged by screening is never approved by a timeout. */
  onTimeout: 'escalate' | 'reject' | 'approve';
  allowSelfApproval?: boolean;
  /** Actions (by name) that need two different reviewers. */
  twoPersonActions?: string[];
  /** Does a reviewer who edits a proposal count as an approver of the revision the edit creates? */
  editorApproves?: boolean;
  /** Signed decisions (opt-in): reviewer → Ed25519 public key (PEM or base64 SPKI). */
  reviewerKeys?: Record<string, string>;
}

/**
 * A learned router from the learning registry (`router.<id>`, trained by `conveyor router train` on
 * recorded outcomes, calibrated to a target share of large-tier calls): before a station step's first
 * call it reads the step's input (the station's `learnable` text field, else the input as JSON) and
 * says whether the station's default tier suffices; when it does not, the step starts at `escalateTo`.
 * Its decision, probability, threshold and version are in the job's decisions and ledger.
 */
export interface RouterPolicySpec {
  /** The router's id in the learning registry. */
  id: string;
  /** A registered version; default: the registry's current one when the step runs (recorded). */
  version?: string;
  /** The stations it routes (default: every station step). */
  stations?: string[];
  /** Where a step starts when the router says the default tier will not do (default: 'large'). */
  escalateTo?: Tier;
}

export interface JobPolicySpec {
  planner?: 'recipe' | 'model';
  budgetUsd: number;
  /** Over budget: wait for a "raise budget" decision, or fail. */
  overBudget?: 'pause' | 'fail';
  /** Per-station overrides of the confidence threshold. */
  confidenceThresholds?: Record<string, number>;
  /** Inputs longer than this start one tier up. */
  longInputChars?: number;
  /** A learned router that picks each station step's starting tier from its input (see RouterPolicySpec). */
  router?: RouterPolicySpec;
  approval: ApprovalPolicySpec;
  /** Each action's settings (checked against the action's `settings` schema). */
  actions?: Record<string, unknown>;
  /** Limits no proposal may cross, whoever proposes it (a model, or a reviewer's edit). */
  bounds?: { maxBudgetUsd?: number; maxProposalChars?: number; maxNumbers?: Record<string, number> };
}

export interface JobTypeDefinition<I = unknown> {
  readonly kind: 'job-type';
  readonly name: string;
  readonly description: string;
  readonly input: z.ZodType<I>;
  readonly recipe: { steps: readonly RecipeStep[] };
  readonly policy: JobPolicySpec;
  /** One line for the Temporal UI's summary. */
  readonly summarize?: (input: I) => string;
}

export interface JobTypeSpec<I> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  recipe: { steps: readonly RecipeStep[] };
  policy: JobPolicySpec;
  summarize?(input: I): string;
}

export function defineJobType<I>(spec: JobTypeSpec<I>): JobTypeDefinition<I> {
  return Object.freeze({ kind: 'job-type' as const, ...spec });
}

// ---- factories -----------------------------------------------------------------------------------

/* eslint-disable @typescript-eslint/no-explicit-any -- a factory holds stations of any input and output types */
export type AnyStation = StationDefinition<any, any>;
export type AnyLocalAnswer = LocalAnswer<any, any>;
export type AnyAction = ActionDefinition<any, any>;
export type AnyJobType = JobTypeDefinition<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */

export interface FactorySpec {
  /** The factory's name (e.g. "support"); shown in `factory show` and recorded with every job. */
  name: string;
  /**
   * The factory's declared version. Prompts, confidence rules and `execute` are code the engine cannot
   * hash: change this string when they change, so jobs record which code they ran on.
   */
  version: string;
  stations: readonly AnyStation[];
  actions?: readonly AnyAction[];
  jobTypes: readonly AnyJobType[];
}

export interface Factory {
  readonly kind: 'factory';
  readonly name: string;
  readonly version: string;
  readonly stations: ReadonlyMap<string, AnyStation>;
  readonly actions: ReadonlyMap<string, AnyAction>;
  readonly jobTypes: ReadonlyMap<string, AnyJobType>;
}
