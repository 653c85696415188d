/**
 * The prompt-injection screening report: detection and false-positive rates of the patterns, the
 * classifier and both combined, on a seeded held-out 30% of data/screening/prompt-injection.csv.
 * Run: npx tsx bench/screening.ts (writes bench/results/screening.json and screening.md).
 */
import fs from 'node:fs';
import path from 'node:path';
import { matchInjectionPatterns } from '../domain/screening';
import { splitHeldOut } from '../providers/local/prng';
import { createScreener, INJECTION_THRESHOLD, loadScreeningExamples } from '../providers/local/screening';

export interface DetectionRates {
  detectionRate: number;
  falsePositiveRate: number;
  injections: number;
  benign: number;
}

export const SPLIT_SEED = 42;
export const HELD_OUT_FRACTION = 0.3;

function rates(items: { label: string; flagged: boolean }[]): DetectionRates {
  const injections = items.filter((item) => item.label === 'injection');
  const benign = items.filter((item) => item.label !== 'injection');
  return {
    detectionRate: injections.filter((item) => item.flagged).length / injections.length,
    falsePositiveRate: benign.filter((item) => item.flagged).length / benign.length,
    injections: injections.length,
    benign: benign.length,
  };
}

export function screeningReport() {
  const { train, heldOut } = splitHeldOut(loadScreeningExamples(), HELD_OUT_FRACTION, SPLIT_SEED);
  const screener = createScreener(train);
  const judged = heldOut.map((example) => {
    const result = screener.screen(example.text);
    return {
      label: example.label,
      combined: result.flagged,
      patterns: matchInjectionPatterns(example.text).length > 0,
      classifier: result.score >= INJECTION_THRESHOLD,
    };
  });
  return {
    data: 'data/screening/prompt-injection.csv (written for this project)',
    split: { seed: SPLIT_SEED, heldOutFraction: HELD_OUT_FRACTION, train: train.length, heldOut: heldOut.length },
    threshold: INJECTION_THRESHOLD,
    patterns: rates(judged.map((item) => ({ label: item.label, flagged: item.patterns }))),
    classifier: rates(judged.map((item) => ({ label: item.label, flagged: item.classifier }))),
    combined: rates(judged.map((item) => ({ label: item.label, flagged: item.combined }))),
  };
}

if (require.main === module) {
  const report = screeningReport();
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  const rows = (['patterns', 'classifier', 'combined'] as const).map((name) => `| ${name} | ${percent(report[name].detectionRate)} | ${percent(report[name].falsePositiveRate)} |`);
  const markdown = [
    '# Prompt-injection screening',
    '',
    `Held-out ${report.split.heldOut} texts (${report.combined.injections} injections, ${report.combined.benign} benign; seed ${report.split.seed}, ${report.split.heldOutFraction * 100}% held out) of ${report.data}; classifier threshold ${report.threshold}.`,
    'The texts share hand-written fragments, so these figures are optimistic for real traffic.',
    '',
    '| screen | detection rate | false-positive rate |',
    '| --- | --- | --- |',
    ...rows,
    '',
    'Produced by `npx tsx bench/screening.ts`.',
  ].join('\n');
  const out = path.join(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'screening.json'), `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'screening.md'), `${markdown}\n`);
  console.log(markdown);
}
