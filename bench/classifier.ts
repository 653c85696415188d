/**
 * Benchmark of the local text classifier on BANKING77 (77 intents, 10k training messages): trains each
 * local tier on train.csv, evaluates on test.csv and records accuracy, accuracy on the most confident
 * 80%, training time, per-prediction latency and saved-model size against the goals, in
 * bench/results/classifier.json. The shared data folder comes from CONVEYOR_SHARED_DATA (default
 * ../shared/data next to the repository). Run: npx tsx bench/classifier.ts
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { scoreOnHeldOut } from '../cli/train';
import { classifyText } from '../providers/local/classifier';
import { loadLabelledFile, repositoryRoot, resolveSharedDataDir } from '../providers/local/dataset';
import { serializeClassifier } from '../providers/local/model-file';
import { trainSizedClassifier } from '../providers/local/model-store';
import { classifierPresets, type ModelSize } from '../providers/local/tiers';
import { percentile } from '../domain/stats';

const goals = { accuracy: 0.9, accuracyAtTop80: 0.97, trainMs: 30_000, predictionP99Us: 1_000 };


function benchSize(size: ModelSize, train: ReturnType<typeof loadLabelledFile>, test: ReturnType<typeof loadLabelledFile>) {
  const startedAt = performance.now();
  const model = trainSizedClassifier(train, size);
  const trainMs = Math.round(performance.now() - startedAt);
  const { accuracy, accuracyAtTop80 } = scoreOnHeldOut(model, test);

  for (const example of test.slice(0, 200)) classifyText(model, example.text);
  const latenciesUs = test.map((example) => {
    const before = process.hrtime.bigint();
    classifyText(model, example.text);
    return Number(process.hrtime.bigint() - before) / 1_000;
  });
  latenciesUs.sort((a, b) => a - b);
  const predictionP50Us = Math.round(percentile(latenciesUs, 50));
  const predictionP99Us = Math.round(percentile(latenciesUs, 99));
  const meanConfidence = test.reduce((sum, example) => sum + classifyText(model, example.text).confidence, 0) / test.length;

  return {
    size,
    features: classifierPresets[size].features,
    epochs: classifierPresets[size].training.epochs,
    weightRows: model.rowBuckets.length,
    temperature: Number(model.temperature.toFixed(4)),
    accuracy: Number(accuracy.toFixed(4)),
    accuracyAtTop80: Number(accuracyAtTop80.toFixed(4)),
    meanConfidence: Number(meanConfidence.toFixed(4)),
    trainMs,
    predictionP50Us,
    predictionP99Us,
    modelSizeBytes: Buffer.byteLength(serializeClassifier(model, 'banking77')),
    pass: {
      accuracy: accuracy >= goals.accuracy,
      accuracyAtTop80: accuracyAtTop80 >= goals.accuracyAtTop80,
      trainMs: trainMs < goals.trainMs,
      predictionP99Us: predictionP99Us < goals.predictionP99Us,
    },
  };
}

function main(): void {
  const dataDir = path.join(resolveSharedDataDir(), 'banking77');
  const columns = { textColumn: 'text', labelColumn: 'category' };
  const train = loadLabelledFile(path.join(dataDir, 'train.csv'), columns);
  const test = loadLabelledFile(path.join(dataDir, 'test.csv'), columns);

  const tiers = (['small', 'medium', 'large'] as const).map((size) => {
    const result = benchSize(size, train, test);
    process.stdout.write(
      `${size.padEnd(6)} accuracy ${(result.accuracy * 100).toFixed(2)}%  top-80% ${(result.accuracyAtTop80 * 100).toFixed(2)}%  ` +
        `mean confidence ${result.meanConfidence.toFixed(3)}  train ${result.trainMs} ms  predict p50 ${result.predictionP50Us} µs p99 ${result.predictionP99Us} µs  ` +
        `model ${(result.modelSizeBytes / 1e6).toFixed(2)} MB  ${Object.values(result.pass).every(Boolean) ? 'PASS' : 'FAIL'}\n`,
    );
    return result;
  });

  const headline = tiers.find((tier) => tier.size === 'medium');
  const report = {
    benchmark: 'local text classifier on BANKING77',
    dataset: { name: 'banking77', trainSize: train.length, testSize: test.length, labels: new Set(train.map((example) => example.label)).size },
    machine: { cpus: os.cpus().length, node: process.version },
    goals,
    /** The default local classifier (local-medium) is the one held to the goals. */
    headline: headline && { size: headline.size, ...headline.pass, allPass: Object.values(headline.pass).every(Boolean) },
    tiers,
    measuredAt: new Date().toISOString(),
  };
  const resultsDir = path.join(repositoryRoot, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(path.join(resultsDir, 'classifier.json'), `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), path.join(resultsDir, 'classifier.json'))}\n`);
}

main();
