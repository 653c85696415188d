/**
 * Routers as learning-registry artifacts: a router reads a step's input text and says whether the
 * default (small) tier suffices for it or the step should start at the large tier. It is the
 * repository's local classifier (providers/local/classifier.ts) trained on recorded outcomes
 * `{ text, defaultSuffices }` with two labels, 'default-suffices' and 'escalate'; its operating
 * threshold is calibrated on a held-out slice of those examples so that a target share of them goes to
 * the large tier. The model file (providers/local/model-file.ts) is registered in the station registry
 * `router.<id>` (learning/model-registry.ts) with the threshold as the version's threshold and notes on
 * the target, the sizes and where the data came from, and made current. `loadRouter` reads it back and
 * decides by the version's rule (`RouterRule`): escalate when the value the rule reads from
 * P(default suffices) and the text is below the threshold.
 *
 * A router also reads a few signals of the text as marker words (`RouterSignal`); the signals it was
 * trained with are recorded in its version's notes (`textSignals`) and `decide` adds them itself, so the
 * benchmark that evaluates a router and the live step that consults it read the same text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { predictProbabilities, trainClassifier, type TextClassifier, type TrainingSettings } from '../providers/local/classifier';
import { InvalidTrainingDataError } from '../providers/local/errors';
import type { FeatureSettings } from '../providers/local/features';
import { loadClassifier, saveClassifier } from '../providers/local/model-file';
import { splitHeldOut } from '../providers/local/prng';
import { countTokens } from '../providers/local/tokens';
import { ModelRegistry, ModelRegistryError, registryStoreOf, type RegistryPlace } from './model-registry';

export const routerLabels = { defaultSuffices: 'default-suffices', escalate: 'escalate' } as const;

/** Share of the distinct example texts held out to calibrate the threshold (never trained on). */
export const routerCalibrationFraction = 0.15;

export const defaultRouterFeatures: FeatureSettings = { hashBits: 18, maxWordNgram: 2, charNgrams: { min: 3, max: 5 }, charBlockWeight: 0.4 };
/**
 * l2 3e-3 (the intent classifier has 1e-4): chosen on subject-held-out MMLU folds of development seeds,
 * never the report's seed, where more regularisation generalised better to unseen subjects — with all four
 * folds pooled, seed 7: 48.7% saved at 1e-3, 49.6% at 3e-3, 48.8% at 1e-2; seed 11: 46.0%, 46.8%, 46.1%.
 */
export const defaultRouterTraining: TrainingSettings = { epochs: 6, learningRate: 0.1, l2: 3e-3, seed: 20_260_501, calibrationFraction: 0.1 };

/**
 * A signal of the text added as a marker word, because the classifier reads only words: `length` the band
 * of its token count, `numbers` the band of how many numbers it holds. Bands are letters (a, b, c, … for
 * log2 steps), since the featurizer folds every digit to 0.
 */
export type RouterSignal = 'length' | 'numbers';
export const routerSignals: readonly RouterSignal[] = ['length', 'numbers'];
/** The signals a router is trained with unless told otherwise (the ones the routing benchmark measured with). */
export const defaultRouterSignals: readonly RouterSignal[] = routerSignals;

function letterBand(value: number): string {
  return String.fromCharCode(97 + Math.min(25, Math.floor(Math.log2(1 + value))));
}

/** The text as a router with these signals reads it: the text, then a line of marker words (none: the text as it is). */
export function routerInput(text: string, signals: readonly RouterSignal[]): string {
  if (signals.length === 0) return text;
  const markers = signals.map((signal) => (signal === 'length' ? `lengthband${letterBand(countTokens(text))}` : `numbersband${letterBand(text.match(/\d+(?:[.,]\d+)*/g)?.length ?? 0)}`));
  return `${text}\n${markers.join(' ')}`;
}

/** The signals, once each is known; `fail` makes the error for an unknown one (a RangeError by default). */
function requireSignals(signals: readonly string[], where: string, fail: (message: string) => Error = (message) => new RangeError(message)): readonly RouterSignal[] {
  const unknown = signals.filter((signal) => !(routerSignals as readonly string[]).includes(signal));
  if (unknown.length > 0) throw fail(`${where}: unknown router signal ${unknown.map((signal) => JSON.stringify(signal)).join(', ')} (known: ${routerSignals.join(', ')})`);
  return signals as readonly RouterSignal[];
}

/**
 * How a router turns P(default suffices) into its decision; the threshold is on the rule's value, and an
 * input whose value is below it starts at the large tier.
 * - `probability`: the value is P itself.
 * - `tokens-per-miss`: the value is the text's tokens over 1 − P — what keeping the input at the default
 *   tier saves (its calls are priced per token) per expected answer lost. An input is escalated for its
 *   risk relative to what it costs: a short risky input goes to the large tier before a long one of the same
 *   risk, which is how a fixed share of large-tier calls saves the most cost for the quality it keeps.
 */
export type RouterRule = 'probability' | 'tokens-per-miss';
export const routerRules: readonly RouterRule[] = ['probability', 'tokens-per-miss'];
/**
 * What a router decides by unless its training names a rule; a version registered without a recorded rule
 * decides by `probability` too. The routing evaluation (learning/routing/router.ts) trains `tokens-per-miss`.
 */
export const defaultRouterRule: RouterRule = 'probability';

/** The value a router with this rule compares with its threshold, for a text (without its signal markers) and P(default suffices). */
export function routerValue(rule: RouterRule, probability: number, text: string): number {
  if (rule === 'probability') return probability;
  return Math.max(1, countTokens(text)) / Math.max(1 - probability, 1e-9);
}

export interface RouterExample {
  text: string;
  defaultSuffices: boolean;
}

export interface TrainRouterOptions {
  id: string;
  examples: readonly RouterExample[];
  targetLargeShare: number;
  by: string;
  notes?: Record<string, unknown>;
  /** The learning registry's data dir, or its store (openRegistryStore). */
  dataDir: RegistryPlace;
  features?: FeatureSettings;
  training?: TrainingSettings;
  /** Signals of the text added as marker words, in training and in every decision (default: defaultRouterSignals; [] reads the text alone). */
  signals?: readonly RouterSignal[];
  /** What it decides by (default: defaultRouterRule); the threshold is calibrated on this rule's values. */
  rule?: RouterRule;
}

export interface RegisteredRouter {
  id: string;
  version: string;
  threshold: number;
  targetLargeShare: number;
  signals: readonly RouterSignal[];
  rule: RouterRule;
}

export interface RouterDecision {
  id: string;
  version: string;
  probability: number;
  rule: RouterRule;
  /** What the threshold is compared with: the probability, or the text's tokens per expected miss. */
  value: number;
  threshold: number;
  escalate: boolean;
  reason: string;
}

export interface LoadedRouter {
  id: string;
  version: string;
  threshold: number;
  /** The signals it adds to the text it is given (from its version's notes; none for routers registered before they were recorded). */
  signals: readonly RouterSignal[];
  /** What it decides by (from its version's notes; `probability` for routers registered before the rule was recorded). */
  rule: RouterRule;
  /** Decides from the step's text as it is; the router adds its own signals. */
  decide(text: string): RouterDecision;
}

export function routerRegistryName(id: string): string {
  return `router.${id}`;
}

function requireRouterId(id: string): void {
  if (!/^[A-Za-z0-9][\w.-]*$/.test(id)) throw new RangeError(`router id ${JSON.stringify(id)} must be letters, digits, '.', '_' or '-', starting with a letter or digit`);
}

/**
 * The threshold that sends `targetLargeShare` of these P(default suffices) values to the large tier
 * (escalate when the value is below it): halfway between the k-th and (k+1)-th smallest value, k the
 * target share of the values rounded down. The share strictly below it is at most the target, within one
 * example of it when the values are distinct; and a new input no more extreme than the values seen lands
 * on the side its neighbours did — a threshold on a value itself (ties at 1.0 when the classes separate
 * cleanly) would escalate every input a hair below it.
 */
export function calibrateRouterThreshold(probabilities: readonly number[], targetLargeShare: number): number {
  if (!(targetLargeShare > 0 && targetLargeShare < 1)) throw new RangeError(`targetLargeShare must be between 0 and 1 (exclusive), got ${targetLargeShare}`);
  if (probabilities.length === 0) throw new RangeError('calibrating a router threshold needs at least one probability');
  const sorted = [...probabilities].sort((a, b) => a - b);
  let k = Math.floor(targetLargeShare * sorted.length);
  // Never split a group of equal values: the boundary goes below the group (fewer escalated, not more).
  while (k > 0 && sorted[k - 1] === sorted[k]) k--;
  if (k === 0) return sorted[0]!;
  return (sorted[k - 1]! + sorted[k]!) / 2;
}

const ruleValueText: Record<RouterRule, string> = { probability: 'P(default-suffices)', 'tokens-per-miss': 'tokens / (1 − P(default-suffices))' };

/** The rule, once it is known; `fail` makes the error for an unknown one (a RangeError by default). */
export function requireRule(rule: string, where: string, fail: (message: string) => Error = (message) => new RangeError(message)): RouterRule {
  if (!(routerRules as readonly string[]).includes(rule)) throw fail(`${where}: unknown router rule ${JSON.stringify(rule)} (known: ${routerRules.join(', ')})`);
  return rule as RouterRule;
}

function probabilityOfDefault(model: TextClassifier, text: string): number {
  const index = model.labels.indexOf(routerLabels.defaultSuffices);
  return predictProbabilities(model, text)[index] ?? 0;
}

/** Holds out whole texts for calibration, so a text repeated in the examples never trains and calibrates at once. */
function splitForCalibration(examples: readonly RouterExample[], seed: number): { train: RouterExample[]; calibration: RouterExample[] } {
  const texts = [...new Set(examples.map((example) => example.text))];
  if (texts.length < 4) throw new InvalidTrainingDataError(`a router needs at least 4 distinct example texts (to train and to calibrate), got ${texts.length}`);
  const calibrationTexts = new Set(splitHeldOut(texts, routerCalibrationFraction, seed ^ 0x2c1b3c6d).heldOut);
  return {
    train: examples.filter((example) => !calibrationTexts.has(example.text)),
    calibration: examples.filter((example) => calibrationTexts.has(example.text)),
  };
}

const share = (count: number, total: number) => (total === 0 ? 0 : count / total);

/** Trains, calibrates the threshold on a held-out slice to the target share, saves and registers it; makes it current. */
export async function trainAndRegisterRouter(options: TrainRouterOptions): Promise<RegisteredRouter> {
  requireRouterId(options.id);
  if (!(options.targetLargeShare > 0 && options.targetLargeShare < 1)) {
    throw new RangeError(`targetLargeShare must be between 0 and 1 (exclusive), got ${options.targetLargeShare}`);
  }
  const features = options.features ?? defaultRouterFeatures;
  const training = options.training ?? defaultRouterTraining;
  const signals = requireSignals(options.signals ?? defaultRouterSignals, `router ${options.id}`);
  const rule = requireRule(options.rule ?? defaultRouterRule, `router ${options.id}`);
  const { train, calibration } = splitForCalibration(options.examples, training.seed);
  const labelled = train.map((example) => ({ text: routerInput(example.text, signals), label: example.defaultSuffices ? routerLabels.defaultSuffices : routerLabels.escalate }));
  if (new Set(labelled.map((example) => example.label)).size < 2) {
    throw new InvalidTrainingDataError(`router ${options.id}: the training examples need both outcomes (some where the default tier suffices, some where it does not)`);
  }
  const startedAt = performance.now();
  const model = trainClassifier(labelled, features, training);
  const trainMs = Math.round(performance.now() - startedAt);
  const calibrationValues = calibration.map((example) => routerValue(rule, probabilityOfDefault(model, routerInput(example.text, signals)), example.text));
  const threshold = calibrateRouterThreshold(calibrationValues, options.targetLargeShare);
  const escalatedOnCalibration = share(calibrationValues.filter((value) => value < threshold).length, calibration.length);

  const name = routerRegistryName(options.id);
  const registry = new ModelRegistry(options.dataDir, name);
  const sizes = {
    examples: options.examples.length,
    trainExamples: train.length,
    calibrationExamples: calibration.length,
    defaultSufficesShare: share(options.examples.filter((example) => example.defaultSuffices).length, options.examples.length),
  };
  const modelTraining = { ...sizes, calibrationFraction: routerCalibrationFraction, trainMs, settings: training };
  const incoming = path.join(registry.dir, 'incoming', `${process.pid}.${Date.now()}.model.json`);
  saveClassifier(incoming, model, name, modelTraining);
  let entry;
  try {
    entry = await registry.register(incoming, {
      by: options.by,
      threshold,
      notes: {
        kind: 'router',
        targetLargeShare: options.targetLargeShare,
        textSignals: [...signals],
        decisionRule: rule,
        calibration: { examples: calibration.length, threshold, escalatedShare: escalatedOnCalibration, rule: `escalate when ${ruleValueText[rule]} < threshold` },
        ...sizes,
        ...options.notes,
      },
    });
  } finally {
    fs.rmSync(incoming, { force: true });
  }
  if (entry.threshold !== threshold) {
    throw new ModelRegistryError(
      `router ${options.id}: this model is already registered as ${entry.version} with threshold ${entry.threshold}${entry.notes?.decisionRule !== undefined && entry.notes.decisionRule !== rule ? ` under the rule ${JSON.stringify(entry.notes.decisionRule)}` : ''}, calibrated to another target or rule; ` +
        `a version keeps its threshold and rule, so register this target or rule under another router id`,
    );
  }
  await registry.promote(entry.version, options.by, `router trained on ${options.examples.length} examples, calibrated to send ${Math.round(options.targetLargeShare * 100)}% to the large tier`);
  return { id: options.id, version: entry.version, threshold, targetLargeShare: options.targetLargeShare, signals, rule };
}

const loadedRouters = new Map<string, LoadedRouter>();

function fixOf(id: string): string {
  return `train and register one with trainAndRegisterRouter({ id: '${id}', ... }) from learning/router.ts, or point policy.router at a registered router`;
}

/** Loads `router.<id>` version `version` (or the current one when version is undefined); throws a ModelRegistryError naming what is missing and how to fix it. Cached per (dataDir,id,version) in-process. */
export async function loadRouter(place: RegistryPlace, id: string, version?: string): Promise<LoadedRouter> {
  const store = registryStoreOf(place);
  const registry = new ModelRegistry(store, routerRegistryName(id));
  const state = await registry.mirrored();
  if (state.versions.length === 0) throw new ModelRegistryError(`router ${id}: no router registered (${registry.file} not found or empty); ${fixOf(id)}`);
  const wanted = version ?? state.current;
  if (wanted === null) {
    throw new ModelRegistryError(`router ${id}: no version is current in ${registry.file} (registered: ${state.versions.map((entry) => entry.version).join(', ')}); promote one, or ask for a version`);
  }
  const key = `${store.kind}\u0000${path.resolve(store.dataDir)}\u0000${id}\u0000${wanted}`;
  const cached = loadedRouters.get(key);
  if (cached) return cached;
  const found = state.versions.find((candidate) => candidate.version === wanted);
  if (!found) {
    throw new ModelRegistryError(`router ${id}: no version ${wanted} in ${registry.file} (registered: ${state.versions.map((candidate) => candidate.version).join(', ')}); ${fixOf(id)}`);
  }
  const entry = await registry.version(wanted, state);
  if (entry.threshold === null) throw new ModelRegistryError(`router ${id}@${wanted}: the registry records no threshold for it in ${registry.file}; retrain it with trainAndRegisterRouter`);
  if (!fs.existsSync(entry.file)) throw new ModelRegistryError(`router ${id}@${wanted}: model file ${entry.file} is missing; retrain it with trainAndRegisterRouter`);
  const { model } = loadClassifier(entry.file);
  if (!model.labels.includes(routerLabels.defaultSuffices)) {
    throw new ModelRegistryError(`router ${id}@${wanted}: ${entry.file} has labels ${model.labels.join(', ')}, not '${routerLabels.defaultSuffices}'; it is not a router model`);
  }
  const threshold = entry.threshold;
  const recorded = entry.notes?.textSignals;
  if (recorded !== undefined && !(Array.isArray(recorded) && recorded.every((signal) => typeof signal === 'string'))) {
    throw new ModelRegistryError(`router ${id}@${wanted}: its notes' textSignals is ${JSON.stringify(recorded)}, not a list of signal names; retrain it with trainAndRegisterRouter`);
  }
  const signals = requireSignals(recorded ?? [], `router ${id}@${wanted}`, (message) => new ModelRegistryError(`${message}; this worker's Conveyor does not know it, so upgrade the worker or retrain the router`));
  const recordedRule = entry.notes?.decisionRule;
  if (recordedRule !== undefined && typeof recordedRule !== 'string') {
    throw new ModelRegistryError(`router ${id}@${wanted}: its notes' decisionRule is ${JSON.stringify(recordedRule)}, not a rule name; retrain it with trainAndRegisterRouter`);
  }
  const rule = requireRule(recordedRule ?? 'probability', `router ${id}@${wanted}`, (message) => new ModelRegistryError(`${message}; this worker's Conveyor does not know it, so upgrade the worker or retrain the router`));
  const loaded: LoadedRouter = {
    id,
    version: wanted,
    threshold,
    signals,
    rule,
    decide(text) {
      const probability = probabilityOfDefault(model, routerInput(text, signals));
      const value = routerValue(rule, probability, text);
      const escalate = value < threshold;
      const compared =
        rule === 'probability'
          ? `P(small tier suffices)=${probability.toFixed(2)} ${escalate ? '<' : '≥'} threshold ${threshold.toFixed(2)}`
          : `P(small tier suffices)=${probability.toFixed(2)}, ${Math.round(value)} tokens per expected miss ${escalate ? '<' : '≥'} threshold ${Math.round(threshold)}`;
      return { id, version: wanted, probability, rule, value, threshold, escalate, reason: `router ${id}@${wanted}: ${compared} → start at ${escalate ? 'large' : 'small'}` };
    },
  };
  loadedRouters.set(key, loaded);
  return loaded;
}
