/**
 * The local text classifier: multinomial logistic regression over hashed n-gram features
 * (features.ts), trained with per-weight AdaGrad and L2 regularisation, then calibrated by temperature
 * scaling fitted on a held-out slice so that the top probability is an honest confidence.
 * Only hash buckets seen in training get a weight row, which keeps memory and saved files small.
 * Training is deterministic for a given seed.
 */
import { featurize, type FeatureSettings, type SparseVector } from './features';
import { createSeededRandom, shuffleInPlace, splitHeldOut } from './prng';
import { InvalidTrainingDataError } from './errors';
import { dequantizeRows, quantizeRows, type QuantizedRows } from './quantization';

export interface LabelledText {
  text: string;
  label: string;
}

export interface TrainingSettings {
  epochs: number;
  learningRate: number;
  l2: number;
  seed: number;
  /** Share of the training examples held out to fit the calibration temperature. */
  calibrationFraction: number;
}

export interface TextClassifier {
  labels: string[];
  features: FeatureSettings;
  /** Hash bucket of each weight row. */
  rowBuckets: Int32Array;
  /** rows × labels, row-major. */
  weights: Float32Array;
  bias: Float32Array;
  temperature: number;
  /** The int8 form `weights` was expanded from; saving writes it back exactly. */
  quantized?: QuantizedRows;
}

export interface RankedLabel {
  label: string;
  probability: number;
}

export interface Classification {
  label: string;
  /** Calibrated probability of `label`. */
  confidence: number;
  /** Every label, most probable first. */
  ranked: RankedLabel[];
}

const rowIndexCache = new WeakMap<TextClassifier, Int32Array>();

function rowIndexOf(model: TextClassifier): Int32Array {
  let rowOfBucket = rowIndexCache.get(model);
  if (!rowOfBucket) {
    rowOfBucket = new Int32Array(1 << model.features.hashBits).fill(-1);
    model.rowBuckets.forEach((bucket, row) => {
      (rowOfBucket as Int32Array)[bucket] = row;
    });
    rowIndexCache.set(model, rowOfBucket);
  }
  return rowOfBucket;
}

/** Raw (uncalibrated) scores of one featurised text. */
function logitsOf(model: TextClassifier, vector: SparseVector, rowOfBucket: Int32Array): Float64Array {
  const labelCount = model.labels.length;
  const logits = Float64Array.from(model.bias);
  for (let j = 0; j < vector.buckets.length; j++) {
    const row = rowOfBucket[vector.buckets[j] as number] as number;
    if (row < 0) continue;
    const value = vector.values[j] as number;
    const base = row * labelCount;
    for (let c = 0; c < labelCount; c++) logits[c] = (logits[c] as number) + value * (model.weights[base + c] as number);
  }
  return logits;
}

function softmaxInPlace(logits: Float64Array, temperature: number): Float64Array {
  let max = -Infinity;
  for (const logit of logits) max = Math.max(max, logit);
  let sum = 0;
  for (let c = 0; c < logits.length; c++) {
    const e = Math.exp(((logits[c] as number) - max) / temperature);
    logits[c] = e;
    sum += e;
  }
  for (let c = 0; c < logits.length; c++) logits[c] = (logits[c] as number) / sum;
  return logits;
}

export function predictProbabilities(model: TextClassifier, text: string): Float64Array {
  return softmaxInPlace(logitsOf(model, featurize(text, model.features), rowIndexOf(model)), model.temperature);
}

export function classifyText(model: TextClassifier, text: string): Classification {
  const probabilities = predictProbabilities(model, text);
  const ranked = model.labels
    .map((label, index) => ({ label, probability: probabilities[index] as number }))
    .sort((a, b) => b.probability - a.probability);
  const top = ranked[0] as RankedLabel;
  return { label: top.label, confidence: top.probability, ranked };
}

interface EncodedExample {
  rows: Int32Array;
  values: Float32Array;
  labelIndex: number;
}

function fitWeights(
  examples: EncodedExample[],
  rowCount: number,
  labelCount: number,
  settings: TrainingSettings,
): { weights: Float32Array; bias: Float32Array } {
  const weights = new Float32Array(rowCount * labelCount);
  const bias = new Float32Array(labelCount);
  const squaredGradients = new Float32Array(rowCount * labelCount);
  const biasSquaredGradients = new Float32Array(labelCount);
  const errors = new Float64Array(labelCount);
  const random = createSeededRandom(settings.seed);
  const order = examples.map((_, index) => index);
  const epsilon = 1e-8;
  const { learningRate, l2 } = settings;

  for (let epoch = 0; epoch < settings.epochs; epoch++) {
    shuffleInPlace(order, random);
    for (const exampleIndex of order) {
      const example = examples[exampleIndex] as EncodedExample;
      let max = -Infinity;
      for (let c = 0; c < labelCount; c++) errors[c] = bias[c] as number;
      for (let j = 0; j < example.rows.length; j++) {
        const base = (example.rows[j] as number) * labelCount;
        const value = example.values[j] as number;
        for (let c = 0; c < labelCount; c++) errors[c] = (errors[c] as number) + value * (weights[base + c] as number);
      }
      for (let c = 0; c < labelCount; c++) max = Math.max(max, errors[c] as number);
      let sum = 0;
      for (let c = 0; c < labelCount; c++) {
        const e = Math.exp((errors[c] as number) - max);
        errors[c] = e;
        sum += e;
      }
      for (let c = 0; c < labelCount; c++) errors[c] = (errors[c] as number) / sum - (c === example.labelIndex ? 1 : 0);

      for (let j = 0; j < example.rows.length; j++) {
        const base = (example.rows[j] as number) * labelCount;
        const value = example.values[j] as number;
        for (let c = 0; c < labelCount; c++) {
          const at = base + c;
          const weight = weights[at] as number;
          const gradient = (errors[c] as number) * value + l2 * weight;
          const accumulated = (squaredGradients[at] as number) + gradient * gradient;
          squaredGradients[at] = accumulated;
          weights[at] = weight - (learningRate * gradient) / Math.sqrt(accumulated + epsilon);
        }
      }
      for (let c = 0; c < labelCount; c++) {
        const gradient = errors[c] as number;
        const accumulated = (biasSquaredGradients[c] as number) + gradient * gradient;
        biasSquaredGradients[c] = accumulated;
        bias[c] = (bias[c] as number) - (learningRate * gradient) / Math.sqrt(accumulated + epsilon);
      }
    }
  }
  return { weights, bias };
}

/** Negative log-likelihood of the true labels at a temperature. */
function calibrationLoss(logitsList: Float64Array[], labelIndexes: number[], temperature: number): number {
  let loss = 0;
  logitsList.forEach((logits, i) => {
    let max = -Infinity;
    for (const logit of logits) max = Math.max(max, logit / temperature);
    let sum = 0;
    for (const logit of logits) sum += Math.exp(logit / temperature - max);
    loss -= (logits[labelIndexes[i] as number] as number) / temperature - max - Math.log(sum);
  });
  return loss;
}

/** Golden-section search for the temperature minimising held-out NLL (convex in 1/T). */
export function fitTemperature(logitsList: Float64Array[], labelIndexes: number[]): number {
  if (logitsList.length === 0) return 1;
  let low = Math.log(0.05);
  let high = Math.log(20);
  const ratio = (Math.sqrt(5) - 1) / 2;
  for (let step = 0; step < 60; step++) {
    const a = high - ratio * (high - low);
    const b = low + ratio * (high - low);
    if (calibrationLoss(logitsList, labelIndexes, Math.exp(a)) < calibrationLoss(logitsList, labelIndexes, Math.exp(b))) high = b;
    else low = a;
  }
  return Math.exp((low + high) / 2);
}

export function trainClassifier(
  examples: readonly LabelledText[],
  features: FeatureSettings,
  settings: TrainingSettings,
): TextClassifier {
  if (examples.length < 2) throw new InvalidTrainingDataError(`need at least 2 labelled examples, got ${examples.length}`);
  const labels = [...new Set(examples.map((example) => example.label))].sort();
  if (labels.length < 2) throw new InvalidTrainingDataError(`need at least 2 distinct labels, got only ${JSON.stringify(labels[0])}`);
  const labelIndex = new Map(labels.map((label, index) => [label, index]));

  const { train, heldOut } =
    settings.calibrationFraction > 0 && examples.length >= 20
      ? splitHeldOut(examples, settings.calibrationFraction, settings.seed ^ 0x5bd1e995)
      : { train: [...examples], heldOut: [] };

  const vectors = train.map((example) => featurize(example.text, features));
  const rowOfBucket = new Map<number, number>();
  for (const vector of vectors) for (const bucket of vector.buckets) if (!rowOfBucket.has(bucket)) rowOfBucket.set(bucket, rowOfBucket.size);
  const encoded: EncodedExample[] = vectors.map((vector, i) => ({
    rows: Int32Array.from(vector.buckets, (bucket) => rowOfBucket.get(bucket) as number),
    values: vector.values,
    labelIndex: labelIndex.get((train[i] as LabelledText).label) as number,
  }));

  const fitted = fitWeights(encoded, rowOfBucket.size, labels.length, settings);
  const quantized = quantizeRows(fitted.weights, labels.length);
  const model: TextClassifier = {
    labels,
    features,
    rowBuckets: Int32Array.from(rowOfBucket.keys()),
    weights: dequantizeRows(quantized, labels.length),
    bias: fitted.bias,
    temperature: 1,
    quantized,
  };

  const lookup = rowIndexOf(model);
  const heldOutLogits = heldOut.map((example) => logitsOf(model, featurize(example.text, features), lookup));
  model.temperature = fitTemperature(
    heldOutLogits,
    heldOut.map((example) => labelIndex.get(example.label) ?? -1),
  );
  return model;
}
