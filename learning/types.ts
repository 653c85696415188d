/**
 * The learning loop's boundary objects: a collected example, the distill request, the curation
 * summary, model evaluations, the gate verdict and the distill report. Plain, serialisable data —
 * the distill workflow imports these as types only; zod schemas validate what arrives from outside.
 */
import { z } from 'zod';
import type { CurvePoint } from '../evaluation/eval/metrics';
import type { RecordedDecision, PendingApproval } from '../domain/approvals';

export const exampleSources = ['escalation', 'reviewer-edit'] as const;
export type ExampleSource = (typeof exampleSources)[number];

/** How much one example counts in training (by repetition): a reviewer's correction is worth three escalations. */
export const sourceWeights: Record<ExampleSource, number> = { escalation: 1, 'reviewer-edit': 3 };

export const collectExampleRequestSchema = z.object({
  station: z.string().min(1),
  jobType: z.string().min(1),
  jobId: z.string().min(1),
  stepId: z.string().min(1),
  /** The step's input text (redacted before it is stored). */
  text: z.string().min(1),
  /** The accepted answer's label (the larger tier's or the reviewer's). */
  label: z.string().min(1),
  source: z.enum(exampleSources),
  /** The model version whose answer was not good enough (the small model that escalated), when known. */
  modelVersion: z.string().optional(),
  /** Who gave the accepted answer: `model:<id>@<version>` for a larger tier, `reviewer:<names>` for a person. */
  answeredBy: z.string().min(1).optional(),
});
export type CollectExampleRequest = z.infer<typeof collectExampleRequestSchema>;

export interface CollectedExample extends Omit<CollectExampleRequest, 'modelVersion' | 'answeredBy'> {
  id: string;
  weight: number;
  modelVersion: string | null;
  answeredBy: string | null;
  createdAt: string;
}

export const canarySettingsSchema = z.object({
  /** Share of items (0–1] the canary serves; the rest stay on the stable version. */
  share: z.number().gt(0).max(1).default(0.2),
  /** Agreement with escalations/reviews below this rolls the canary back. */
  agreementGate: z.number().min(0).max(1).default(0.6),
  /** Checked items needed before any decision. */
  minObservations: z.number().int().min(1).default(20),
  /** Checked items after which a canary that stayed above the gate serves all traffic. */
  fullObservations: z.number().int().min(1).default(200),
});
export type CanarySettings = z.output<typeof canarySettingsSchema>;

export const distillRequestSchema = z.object({
  /** The station whose model is retrained, e.g. "classify-intent". */
  station: z.string().min(1),
  /** Labelled CSV/JSONL the model was (and is again) trained on, besides the collected examples. */
  baseDataFile: z.string().min(1).optional(),
  /** The golden set the candidate and the current model are compared on. */
  goldenDataFile: z.string().min(1),
  textColumn: z.string().min(1).default('text'),
  labelColumn: z.string().min(1).default('label'),
  targetAccuracy: z.number().gt(0).max(1).default(0.97),
  /** Largest accepted drop in golden-set accuracy (absolute, 0.01 = one point). */
  tolerance: z.number().min(0).max(1).default(0.01),
  requiredApprovals: z.union([z.literal(1), z.literal(2)]).default(1),
  reviewers: z.array(z.string().min(1)).min(1),
  approvalTimeoutMs: z.number().int().positive().default(24 * 60 * 60_000),
  /** Who asked for the retraining; may not approve it. */
  requestedBy: z.string().min(1).optional(),
  size: z.enum(['small', 'medium', 'large']).default('small'),
  seed: z.number().int().default(20_260_312),
  /** Share of each label's collected examples, newest first, held out from training for evaluation. */
  heldOutFraction: z.number().min(0).max(0.9).default(0.2),
  /**
   * Run the candidate in shadow on live steps before anyone is asked (its answers recorded, never
   * used): wait for `minObservations` settled steps or `maxWaitMs`, and refuse it when its agreement
   * with the accepted answers is below `agreementGate`.
   */
  shadow: z
    .object({
      minObservations: z.number().int().min(1).default(50),
      maxWaitMs: z.number().int().positive().default(60 * 60_000),
      agreementGate: z.number().min(0).max(1).default(0.9),
      pollIntervalMs: z.number().int().min(100).default(10_000),
    })
    .optional(),
  /** Promote as a canary: a share of the traffic first, rolled back automatically when live agreement drops below the gate. */
  canary: canarySettingsSchema.optional(),
});
export type DistillRequest = z.input<typeof distillRequestSchema>;
export type DistillSettings = z.output<typeof distillRequestSchema>;

export interface CurationSummary {
  baseExamples: number;
  collectedExamples: number;
  /** Rows folded into another row with the same (normalised) text and label. */
  duplicatesMerged: number;
  /** Texts dropped because their rows disagree on the label. */
  conflictingTexts: number;
  conflictingRowsDropped: number;
  /** Rows dropped because their text is in the golden set (it must stay unseen). */
  goldenOverlapDropped: number;
  /** Unique training texts and rows after repetition by weight. */
  trainExamples: number;
  trainRows: number;
  heldOutExamples: number;
  labels: number;
}

export interface CuratedRun extends CurationSummary {
  runId: string;
  runDir: string;
  trainFile: string;
  heldOutFile: string;
}

export interface TrainedCandidate {
  version: string;
  file: string;
  trainMs: number;
  trainRows: number;
}

export interface ModelEvaluation {
  version: string;
  /** Golden set: top-1 accuracy of the model alone (nothing escalated). */
  accuracy: number;
  /** Golden set: the largest share of items kept at ≥ target accuracy on what is kept. */
  coverageAtTarget: number;
  /** The confidence threshold that reaches it (null when no threshold does). */
  thresholdAtTarget: number | null;
  accuracyOnCoveredAtTarget: number;
  /** Small-model cost + route()'s estimate for each escalated item, at that threshold. */
  costPerItemUsdAtTarget: number;
  perLabelAccuracy: Record<string, number>;
  curve: CurvePoint[];
  golden: { n: number };
  /** The held-out recent collected examples: top-1 accuracy and coverage at the golden threshold. */
  heldOut: { n: number; accuracy: number; coverage: number; accuracyOnCovered: number };
}

export interface GateCheck {
  name: 'golden-accuracy' | 'coverage-at-target';
  passed: boolean;
  detail: string;
}

export interface GateVerdict {
  passed: boolean;
  checks: GateCheck[];
  /** Why the candidate may not be promoted (absent when it passed). */
  refusal?: string;
}

export interface LabelChange {
  label: string;
  current: number | null;
  candidate: number;
  delta: number | null;
}

export interface DistillReport {
  station: string;
  runId: string;
  generatedAt: string;
  settings: { targetAccuracy: number; tolerance: number; size: string; seed: number; goldenDataFile: string; baseDataFile: string | null };
  curation: CurationSummary;
  candidate: ModelEvaluation;
  current: ModelEvaluation | null;
  gate: GateVerdict;
  labelChanges: LabelChange[];
  files: { json: string; markdown: string; candidateModel: string };
  /** The shadow run on live steps, when the request asked for one. */
  shadow?: ShadowOutcome;
}

export type DistillStatus = 'awaiting_approval' | 'promoted' | 'refused-by-gate' | 'refused-by-shadow' | 'rejected' | 'timed-out';

/** Who produced a step's accepted answer: the model that served it (nothing checked it), a larger tier, or a reviewer. */
export type AcceptedBy = 'serving' | 'escalation' | 'reviewer';

export interface Agreement {
  n: number;
  agreed: number;
  /** Share of observations where the candidate gave the accepted answer (0 when there are none). */
  agreement: number;
}

/** A candidate's live agreement: over every settled step, and over the checked ones (escalated or reviewed). */
export interface LiveAgreement {
  station: string;
  version: string;
  role: 'shadow' | 'canary' | 'stable';
  since: string;
  /** Candidate answers recorded, settled or not. */
  recorded: number;
  all: Agreement;
  checked: Agreement;
}

export interface ShadowOutcome {
  version: string;
  agreement: LiveAgreement;
  gate: number;
  minObservations: number;
  passed: boolean;
  detail: string;
}

export interface DistillResult {
  runId: string;
  station: string;
  status: DistillStatus;
  candidateVersion: string;
  previousVersion: string | null;
  /** The version serving after this run (the candidate when promoted). */
  currentVersion: string | null;
  report: DistillReport;
  approvals: RecordedDecision[];
  pending: PendingApproval[];
  /** When the promotion started as a canary: its settings (the canary monitor keeps or rolls it back). */
  canary?: CanarySettings;
}

export interface RegistryVersion {
  version: string;
  file: string;
  createdAt: string;
  /** The operating threshold that reached the target accuracy on the golden set (null when none did). */
  threshold: number | null;
  runId: string | null;
  notes: Record<string, unknown>;
  /** The sha256 of the model file's bytes: a host that fetches the file from a shared store checks it. */
  sha256?: string;
}

export interface RegistryEvent {
  at: string;
  action: 'register' | 'promote' | 'rollback' | 'shadow-start' | 'shadow-stop' | 'canary-keep';
  version: string;
  previous: string | null;
  by: string;
  reason: string;
}

export interface RegistryState {
  station: string;
  current: string | null;
  /** Versions that were current before, most recent last: what rollback restores. */
  previous: string[];
  versions: RegistryVersion[];
  history: RegistryEvent[];
  /** A candidate answering live steps in shadow (recorded, never used). */
  shadow?: { version: string; since: string; by: string } | null;
  /** The current version serving only a share of the items while it proves itself; the rest go to `stable`. */
  canary?: (CanarySettings & { version: string; stable: string | null; since: string; by: string }) | null;
}
