/**
 * The saved-model format of local text classifiers: one JSON document with a zod-validated header
 * (format name and version, task, labels, feature settings, calibration temperature, training notes)
 * and the weights as base64 little-endian arrays: the hash bucket of each weight row (int32), one scale
 * per row (float32) and the int8 levels (rows × labels). Loading checks that the arrays agree with the
 * header, so a truncated or hand-edited file fails with a message that names what is wrong.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { featureSettingsSchema } from './features';
import { InvalidModelFileError } from './errors';
import { dequantizeRows, quantizeRows } from './quantization';
import type { TextClassifier } from './classifier';

export const MODEL_FORMAT = 'conveyor-text-classifier';
export const MODEL_FORMAT_VERSION = 1;

export const modelHeaderSchema = z.object({
  format: z.literal(MODEL_FORMAT),
  formatVersion: z.literal(MODEL_FORMAT_VERSION),
  /** What the classifier decides, e.g. "intent" or "relevance"; prefixes the model version. */
  task: z.string().min(1),
  labels: z.array(z.string().min(1)).min(2),
  features: featureSettingsSchema,
  temperature: z.number().positive(),
  /** Free-form notes on how the model was trained (data file, sizes, seed, data hash). */
  training: z.record(z.string(), z.unknown()).default({}),
  rowCount: z.number().int().nonnegative(),
});
export type ModelHeader = z.infer<typeof modelHeaderSchema>;

const weightsSchema = z.object({
  encoding: z.literal('int8-row-scaled'),
  bias: z.array(z.number()),
  rowBuckets: z.string(),
  rowScales: z.string(),
  levels: z.string(),
});

const modelFileSchema = modelHeaderSchema.extend({ weights: weightsSchema });

export interface SavedClassifier {
  model: TextClassifier;
  task: string;
  training: Record<string, unknown>;
}

function toBase64(array: Int32Array | Float32Array | Int8Array): string {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64');
}

function fromBase64<T>(text: string, bytesPerItem: number, make: (buffer: ArrayBuffer) => T, what: string, source: string): T {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.byteLength % bytesPerItem !== 0) throw new InvalidModelFileError(`${source}: weights.${what} is not a whole number of ${bytesPerItem}-byte values`);
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return make(copy);
}

/** The model version recorded in the ledger: task, format version and a hash of the weights. */
export function modelVersionOf(task: string, model: TextClassifier): string {
  const hash = createHash('sha256');
  hash.update(Buffer.from(model.weights.buffer, model.weights.byteOffset, model.weights.byteLength));
  hash.update(Buffer.from(model.bias.buffer, model.bias.byteOffset, model.bias.byteLength));
  hash.update(JSON.stringify([model.labels, model.features, model.temperature]));
  return `${task}-lr@${MODEL_FORMAT_VERSION}:${hash.digest('hex').slice(0, 12)}`;
}

export function serializeClassifier(model: TextClassifier, task: string, training: Record<string, unknown> = {}): string {
  const labelCount = model.labels.length;
  const { scales, levels } = model.quantized ?? quantizeRows(model.weights, labelCount);
  const document: z.input<typeof modelFileSchema> = {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    task,
    labels: model.labels,
    features: model.features,
    temperature: model.temperature,
    training,
    rowCount: model.rowBuckets.length,
    weights: {
      encoding: 'int8-row-scaled',
      bias: Array.from(model.bias),
      rowBuckets: toBase64(model.rowBuckets),
      rowScales: toBase64(scales),
      levels: toBase64(levels),
    },
  };
  return JSON.stringify(document);
}

export function parseClassifier(json: string, source = 'model'): SavedClassifier {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new InvalidModelFileError(`${source}: not JSON; expected a ${MODEL_FORMAT} model file`);
  }
  if (raw === null || typeof raw !== 'object') throw new InvalidModelFileError(`${source}: expected a JSON object`);
  const { format, formatVersion } = raw as { format?: unknown; formatVersion?: unknown };
  if (format !== MODEL_FORMAT) throw new InvalidModelFileError(`${source}: format is ${JSON.stringify(format)}, expected "${MODEL_FORMAT}"`);
  if (formatVersion !== MODEL_FORMAT_VERSION) {
    throw new InvalidModelFileError(`${source}: format version ${JSON.stringify(formatVersion)} is not supported (this build reads version ${MODEL_FORMAT_VERSION}); retrain the model`);
  }
  const parsed = modelFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(root)';
    throw new InvalidModelFileError(`${source}: field ${where}: ${issue?.message ?? 'invalid'}`);
  }
  const file = parsed.data;
  const labelCount = file.labels.length;
  if (new Set(file.labels).size !== labelCount) throw new InvalidModelFileError(`${source}: labels contain duplicates`);
  if (file.weights.bias.length !== labelCount) throw new InvalidModelFileError(`${source}: weights.bias has ${file.weights.bias.length} values for ${labelCount} labels`);

  const rowBuckets = fromBase64(file.weights.rowBuckets, 4, (b) => new Int32Array(b), 'rowBuckets', source);
  const scales = fromBase64(file.weights.rowScales, 4, (b) => new Float32Array(b), 'rowScales', source);
  const levels = fromBase64(file.weights.levels, 1, (b) => new Int8Array(b), 'levels', source);
  if (rowBuckets.length !== file.rowCount || scales.length !== file.rowCount) {
    throw new InvalidModelFileError(`${source}: rowCount is ${file.rowCount} but weights hold ${rowBuckets.length} buckets and ${scales.length} scales`);
  }
  if (levels.length !== file.rowCount * labelCount) {
    throw new InvalidModelFileError(`${source}: weights.levels holds ${levels.length} values, expected rowCount × labels = ${file.rowCount * labelCount}`);
  }
  const bucketLimit = 1 << file.features.hashBits;
  if (rowBuckets.some((bucket) => bucket < 0 || bucket >= bucketLimit)) {
    throw new InvalidModelFileError(`${source}: a row bucket lies outside the 2^${file.features.hashBits} hash space`);
  }
  const model: TextClassifier = {
    labels: file.labels,
    features: file.features,
    rowBuckets,
    weights: dequantizeRows({ scales, levels }, labelCount),
    quantized: { scales, levels },
    bias: Float32Array.from(file.weights.bias),
    temperature: file.temperature,
  };
  return { model, task: file.task, training: file.training };
}

export function saveClassifier(filePath: string, model: TextClassifier, task: string, training: Record<string, unknown> = {}): void {
  mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true });
  // Write then rename, so a concurrent reader never sees half a model.
  const temporaryPath = `${filePath}.${process.pid}.tmp`;
  writeFileSync(temporaryPath, serializeClassifier(model, task, training));
  renameSync(temporaryPath, filePath);
}

export function loadClassifier(filePath: string): SavedClassifier {
  if (!existsSync(filePath)) throw new InvalidModelFileError(`model file not found: ${filePath}`);
  return parseClassifier(readFileSync(filePath, 'utf8'), filePath);
}
