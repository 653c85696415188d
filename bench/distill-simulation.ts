/**
 * The factory learns, simulated on BANKING77: the small model starts from a seeded 10% of train.csv;
 * the rest of train.csv arrives as production items in rounds. Each item goes through the factory's
 * classify-intent routing offline with the current model as the small tier; an item below the model's
 * operating threshold escalates, and the simulated top tier / reviewer answers it with the GOLD label,
 * which is collected as an example (a seeded 5% of the items the small model kept are spot-checked by
 * a simulated reviewer, whose corrections are collected as reviewer edits). After each round a distill
 * run curates, trains and evaluates a candidate against BANKING77 test.csv with the very functions the
 * distill workflow's activities call (learning/pipeline.ts), offline; the gate decides, a simulated
 * reviewer approves what passed, and the registry promotes it.
 *
 *   npx tsx bench/distill-simulation.ts [--rounds 4] [--seed 20260312] [--base-share 0.1]
 *
 * Writes bench/results/distill-simulation.{json,md} and distill-simulation-{coverage,cost}.svg.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadNamedDataset, EVAL_SEED } from '../evaluation/eval/datasets';
import { coveredAt, curvePoint } from '../evaluation/eval/metrics';
import { linePlotSvg } from '../evaluation/eval/render';
import { resolveSharedDataDir } from '../providers/local/dataset';
import { createSeededRandom, shuffleInPlace } from '../providers/local/prng';
import type { LabelledText } from '../providers/local/classifier';
import { decideWithModel } from '../learning/evaluate';
import { evaluationTarget } from '../evaluation/eval/target';
import { supportFactory } from '../factories/support';
import { ExampleStore } from '../learning/example-store';
import { ModelRegistry } from '../learning/model-registry';
import { curateRun, evaluateCandidate, trainCandidate } from '../learning/pipeline';
import { distillRequestSchema, type CollectExampleRequest, type DistillReport } from '../learning/types';

const STATION = 'classify-intent';
const REVIEW_SHARE = 0.05;

interface RoundFigures {
  round: number;
  /** The model that served this round's production items (null for the bootstrap round). */
  servedBy: string | null;
  operatingThreshold: number | null;
  production: {
    items: number;
    keptBySmallModel: number;
    share: number;
    accuracyOnKept: number;
    escalatedAndCollected: number;
    spotChecked: number;
    reviewerEdits: number;
    projectedCostPerItemUsd: number;
  } | null;
  distill: {
    collectedSoFar: number;
    trainExamples: number;
    trainRows: number;
    heldOutExamples: number;
    conflictingTexts: number;
    duplicatesMerged: number;
    trainMs: number;
    candidate: string;
    candidateAccuracy: number;
    candidateCoverageAtTarget: number;
    candidateThreshold: number | null;
    candidateCostPerItemUsd: number;
    currentCoverageAtTarget: number | null;
    gatePassed: boolean;
    gate: string;
    heldOutAccuracyCandidate: number;
    heldOutAccuracyCurrent: number | null;
  };
  /** After the round's distill (and promotion if it passed): the serving model on the golden set. */
  serving: { version: string; accuracy: number; coverageAtTarget: number; threshold: number | null; costPerItemUsd: number };
}

function toJsonlFile(file: string, items: readonly LabelledText[]): void {
  fs.writeFileSync(file, items.map((item) => JSON.stringify({ text: item.text, category: item.label })).join('\n') + '\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '4' },
      seed: { type: 'string', default: String(EVAL_SEED) },
      'base-share': { type: 'string', default: '0.1' },
      out: { type: 'string', default: path.resolve(__dirname, 'results') },
    },
  });
  const rounds = Number(values.rounds);
  const seed = Number(values.seed);
  const baseShare = Number(values['base-share']);
  const startedAt = performance.now();

  const dataset = loadNamedDataset('banking77');
  const shuffled = shuffleInPlace([...dataset.train], createSeededRandom(seed));
  const baseSize = Math.round(shuffled.length * baseShare);
  const base = shuffled.slice(0, baseSize);
  const arriving = shuffled.slice(baseSize);
  const roundSize = Math.ceil(arriving.length / rounds);

  // Everything the run writes (data dir, base file) lives in a temporary folder: the text of the
  // shared data is never copied into the repository.
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'conveyor-distill-sim-'));
  const dataDir = path.join(workDir, 'data');
  const baseFile = path.join(workDir, 'banking77-base.jsonl');
  toJsonlFile(baseFile, base);
  const goldenFile = path.join(resolveSharedDataDir(), 'banking77', 'test.csv');
  const settings = distillRequestSchema.parse({
    station: STATION,
    baseDataFile: baseFile,
    goldenDataFile: goldenFile,
    labelColumn: 'category',
    reviewers: ['sim-reviewer'],
    seed,
  });
  const target = evaluationTarget(supportFactory, { station: STATION });
  const store = new ExampleStore(path.join(dataDir, 'examples.sqlite'));
  const registry = new ModelRegistry(dataDir, STATION);
  const reviewRandom = createSeededRandom(seed ^ 0x2545f491);
  const log = (line: string) => console.log(line);
  log(`banking77: ${dataset.train.length} train items (${base.length} as the base, ${arriving.length} arriving in ${rounds} rounds of ≤ ${roundSize}), ${dataset.test.length} golden test items; work dir ${workDir}`);

  const distill = async (round: number): Promise<{ report: DistillReport; trainMs: number }> => {
    const runId = `sim-round-${round}`;
    const curated = curateRun({ settings, runId, dataDir, collected: store.examples(settings.station) });
    const candidate = trainCandidate({ target, trainFile: curated.trainFile, runDir: curated.runDir, size: settings.size, seed: settings.seed });
    const report = await evaluateCandidate({
      target,
      settings,
      runId,
      runDir: curated.runDir,
      candidateFile: candidate.file,
      heldOutFile: curated.heldOutFile,
      curation: curated,
      registry,
      now: new Date(Date.UTC(2026, 0, 1 + round)),
    });
    if (report.gate.passed) await registry.promote(report.candidate.version, 'sim-reviewer', `simulated approval of ${runId}: ${report.gate.checks.map((c) => c.detail).join('; ')}`);
    return { report, trainMs: candidate.trainMs };
  };

  const figures: RoundFigures[] = [];
  for (let round = 0; round <= rounds; round++) {
    const serving = await registry.current();
    let production: RoundFigures['production'] = null;
    if (round > 0) {
      if (!serving) throw new Error('no model was promoted in the bootstrap round');
      const items = arriving.slice((round - 1) * roundSize, round * roundSize);
      const decisions = await decideWithModel(target, serving.file, items);
      const threshold = serving.threshold ?? Number.POSITIVE_INFINITY;
      const collected: CollectExampleRequest[] = [];
      let spotChecked = 0;
      let reviewerEdits = 0;
      decisions.forEach((decision, index) => {
        const item = items[index] as LabelledText;
        const base = { station: STATION, jobType: 'triage', jobId: `sim-${round}-${index}`, stepId: 'classify', text: item.text, modelVersion: serving.version };
        if (!coveredAt(decision, threshold)) {
          // Escalated: the simulated top tier / reviewer answers with the gold label.
          collected.push({ ...base, label: item.label, source: 'escalation' });
          return;
        }
        if (reviewRandom.next() < REVIEW_SHARE) {
          spotChecked++;
          if (decision.smallLabel !== item.label) {
            reviewerEdits++;
            collected.push({ ...base, label: item.label, source: 'reviewer-edit' });
          }
        }
      });
      store.collectMany(collected, new Date(Date.UTC(2026, 0, 1 + round)));
      const point = curvePoint(decisions, threshold);
      production = {
        items: items.length,
        keptBySmallModel: Math.round(point.coverage * items.length),
        share: point.coverage,
        accuracyOnKept: point.accuracyOnCovered,
        escalatedAndCollected: collected.length - reviewerEdits,
        spotChecked,
        reviewerEdits,
        projectedCostPerItemUsd: point.costPerItemUsd,
      };
      log(`round ${round}: ${serving.version} kept ${(point.coverage * 100).toFixed(1)}% of ${items.length} items at threshold ${serving.threshold} (${(point.accuracyOnCovered * 100).toFixed(1)}% right); ${production.escalatedAndCollected} escalated and collected, ${reviewerEdits} reviewer edits`);
    }
    const { report, trainMs } = await distill(round);
    const after = await registry.current();
    if (!after) throw new Error('no serving model after the distill run');
    const servingEvaluation = after.version === report.candidate.version ? report.candidate : report.current;
    if (!servingEvaluation) throw new Error('the serving model was not evaluated');
    figures.push({
      round,
      servedBy: serving?.version ?? null,
      operatingThreshold: serving?.threshold ?? null,
      production,
      distill: {
        collectedSoFar: report.curation.collectedExamples,
        trainExamples: report.curation.trainExamples,
        trainRows: report.curation.trainRows,
        heldOutExamples: report.curation.heldOutExamples,
        conflictingTexts: report.curation.conflictingTexts,
        duplicatesMerged: report.curation.duplicatesMerged,
        trainMs,
        candidate: report.candidate.version,
        candidateAccuracy: report.candidate.accuracy,
        candidateCoverageAtTarget: report.candidate.coverageAtTarget,
        candidateThreshold: report.candidate.thresholdAtTarget,
        candidateCostPerItemUsd: report.candidate.costPerItemUsdAtTarget,
        currentCoverageAtTarget: report.current?.coverageAtTarget ?? null,
        gatePassed: report.gate.passed,
        gate: report.gate.refusal ?? report.gate.checks.map((check) => check.detail).join('; '),
        heldOutAccuracyCandidate: report.candidate.heldOut.accuracy,
        heldOutAccuracyCurrent: report.current?.heldOut.accuracy ?? null,
      },
      serving: {
        version: servingEvaluation.version,
        accuracy: servingEvaluation.accuracy,
        coverageAtTarget: servingEvaluation.coverageAtTarget,
        threshold: servingEvaluation.thresholdAtTarget,
        costPerItemUsd: servingEvaluation.costPerItemUsdAtTarget,
      },
    });
    log(
      `distill ${round}: candidate ${report.candidate.version} accuracy ${(report.candidate.accuracy * 100).toFixed(1)}%, coverage at ${(settings.targetAccuracy * 100).toFixed(0)}% ${(report.candidate.coverageAtTarget * 100).toFixed(1)}% (current ${report.current ? `${(report.current.coverageAtTarget * 100).toFixed(1)}%` : 'none'}), cost/item $${report.candidate.costPerItemUsdAtTarget.toExponential(3)} — gate ${report.gate.passed ? 'passed, promoted' : 'refused'}`,
    );
  }
  store.close();

  const result = {
    command: `npx tsx bench/distill-simulation.ts --rounds ${rounds} --seed ${seed} --base-share ${baseShare}`,
    generatedAt: new Date().toISOString(),
    elapsedS: Math.round((performance.now() - startedAt) / 100) / 10,
    dataset: { name: 'banking77', trainItems: dataset.train.length, baseItems: base.length, arrivingItems: arriving.length, rounds, roundSize, goldenItems: dataset.test.length, golden: 'banking77 test.csv' },
    settings: { targetAccuracy: settings.targetAccuracy, tolerance: settings.tolerance, size: settings.size, seed, heldOutFraction: settings.heldOutFraction, reviewShare: REVIEW_SHARE },
    assumptions,
    rounds: figures,
    history: (await registry.state()).history,
  };
  fs.mkdirSync(values.out, { recursive: true });
  const files = {
    json: path.join(values.out, 'distill-simulation.json'),
    markdown: path.join(values.out, 'distill-simulation.md'),
    coverage: path.join(values.out, 'distill-simulation-coverage.svg'),
    cost: path.join(values.out, 'distill-simulation-cost.svg'),
  };
  fs.writeFileSync(files.json, `${JSON.stringify(result, null, 2)}\n`);
  fs.writeFileSync(files.markdown, markdownOf(result));
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  fs.writeFileSync(
    files.coverage,
    linePlotSvg({
      title: `BANKING77: share kept by the small model at ≥ ${percent(settings.targetAccuracy)} accuracy`,
      xLabel: 'distill round (0 = the model trained on the 10% base)',
      yLabel: 'coverage at target accuracy (golden set)',
      xFormat: (value) => value.toFixed(1),
      yFormat: percent,
      points: figures.map((figure) => ({ x: figure.round, y: figure.serving.coverageAtTarget, label: `round ${figure.round}: ${percent(figure.serving.coverageAtTarget)}`, highlighted: true })),
    }),
  );
  fs.writeFileSync(
    files.cost,
    linePlotSvg({
      title: 'BANKING77: projected cost per item at the target accuracy',
      xLabel: 'distill round',
      yLabel: 'USD per item (small + estimated escalations)',
      xFormat: (value) => value.toFixed(1),
      yFormat: (value) => `$${value.toExponential(2)}`,
      points: figures.map((figure) => ({ x: figure.round, y: figure.serving.costPerItemUsd, label: `round ${figure.round}: $${figure.serving.costPerItemUsd.toExponential(3)}`, highlighted: true })),
    }),
  );
  log(`wrote ${Object.values(files).join(', ')} in ${result.elapsedS} s`);
  fs.rmSync(workDir, { recursive: true, force: true });
}

const assumptions = [
  'Escalated items are answered by a SIMULATED top tier / reviewer that returns the GOLD label of the item: the collected labels are perfect. A real larger model or reviewer makes mistakes; those would enter training too.',
  'A simulated reviewer spot-checks a seeded 5% of the items the small model kept and corrects wrong answers (again with the gold label); those corrections are collected as reviewer edits with weight 3 (repeated three times in training).',
  'The rounds run offline: production items go through the factory’s classify-intent routing in-process (evaluateOffline), and the distill runs call the same curate / train / evaluate functions as the distill workflow’s activities (learning/pipeline.ts), with no Temporal server; approval of a candidate that passed the gate is simulated (reviewer "sim-reviewer").',
  'Coverage at target accuracy = the largest share of golden items (BANKING77 test.csv, 3,080) the model keeps, over confidence thresholds 0.00–0.999, with accuracy on the kept items ≥ the target. The threshold that reaches it is chosen on the golden set itself and becomes the operating threshold of the promoted model; the production share and accuracy of the next round are measured on items the model has never seen, so they check that choice out of sample.',
  'Cost per item = the small model’s cost (registry prices × tokens; local prices are notional) + route()’s estimate of the next tier for every item below the threshold, as in the evaluation report.',
];

function markdownOf(result: {
  command: string;
  generatedAt: string;
  elapsedS: number;
  dataset: { baseItems: number; arrivingItems: number; rounds: number; roundSize: number; goldenItems: number; trainItems: number };
  settings: { targetAccuracy: number; tolerance: number; size: string; heldOutFraction: number };
  assumptions: string[];
  rounds: RoundFigures[];
}): string {
  const percent = (value: number | null | undefined) => (value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)}%`);
  const dollars = (value: number) => `$${value.toFixed(8)}`;
  const first = result.rounds[0];
  const last = result.rounds[result.rounds.length - 1];
  const target = percent(result.settings.targetAccuracy);
  return [
    '# The factory learns: distillation on BANKING77 (simulation)',
    '',
    `- Command: \`${result.command}\` (${result.elapsedS} s on this machine; generated ${result.generatedAt})`,
    `- Small model: local-${result.settings.size} (hashed word n-gram logistic regression), first trained on a seeded ${result.dataset.baseItems} of ${result.dataset.trainItems} BANKING77 train items; the other ${result.dataset.arrivingItems} arrive in ${result.dataset.rounds} rounds of ≤ ${result.dataset.roundSize}.`,
    `- Golden set: BANKING77 test.csv (${result.dataset.goldenItems} items), never trained on. Target accuracy ${target}; gate tolerance ${percent(result.settings.tolerance)}; ${percent(result.settings.heldOutFraction)} of each label's newest collected examples held out per run.`,
    '- **Escalated items are answered with the gold label** by a simulated top tier / reviewer (see Assumptions).',
    '',
    first && last
      ? `From the bootstrap model to the last promoted model, the share the small model handles at ≥ ${target} accuracy on the golden set went from ${percent(first.serving.coverageAtTarget)} to ${percent(last.serving.coverageAtTarget)}, and the projected cost per item from ${dollars(first.serving.costPerItemUsd)} to ${dollars(last.serving.costPerItemUsd)}.`
      : '',
    '',
    productionNote(result.rounds, result.settings.targetAccuracy),
    '',
    '## Per round: production, then distill',
    '',
    '| round | served by | threshold | items | kept by small model | accuracy on kept | escalated → collected | reviewer edits | projected cost / item |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...result.rounds.map((r) =>
      r.production
        ? `| ${r.round} | ${r.servedBy} | ${r.operatingThreshold ?? '—'} | ${r.production.items} | ${percent(r.production.share)} | ${percent(r.production.accuracyOnKept)} | ${r.production.escalatedAndCollected} | ${r.production.reviewerEdits} of ${r.production.spotChecked} checked | ${dollars(r.production.projectedCostPerItemUsd)} |`
        : `| ${r.round} | — (bootstrap) | — | — | — | — | — | — | — |`,
    ),
    '',
    '| round | collected so far | training texts (rows) | held out | candidate | golden accuracy | coverage at target | threshold | cost / item | vs current coverage | gate |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...result.rounds.map(
      (r) =>
        `| ${r.round} | ${r.distill.collectedSoFar} | ${r.distill.trainExamples} (${r.distill.trainRows}) | ${r.distill.heldOutExamples} | ${r.distill.candidate} | ${percent(r.distill.candidateAccuracy)} | ${percent(r.distill.candidateCoverageAtTarget)} | ${r.distill.candidateThreshold ?? '—'} | ${dollars(r.distill.candidateCostPerItemUsd)} | ${percent(r.distill.currentCoverageAtTarget)} | ${r.distill.gatePassed ? 'passed → promoted' : `refused: ${r.distill.gate}`} |`,
    ),
    '',
    '## Serving model after each round (golden set)',
    '',
    '![coverage at target accuracy per round](distill-simulation-coverage.svg) ![cost per item per round](distill-simulation-cost.svg)',
    '',
    `| round | serving version | golden accuracy | coverage at ${target} | threshold | projected cost / item |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...result.rounds.map((r) => `| ${r.round} | ${r.serving.version} | ${percent(r.serving.accuracy)} | ${percent(r.serving.coverageAtTarget)} | ${r.serving.threshold ?? '—'} | ${dollars(r.serving.costPerItemUsd)} |`),
    '',
    '## Assumptions',
    '',
    ...result.assumptions.map((assumption) => `- ${assumption}`),
    '',
  ].join('\n');
}

/** What the production rounds showed out of sample, computed from the figures. */
function productionNote(rounds: readonly RoundFigures[], targetAccuracy: number): string {
  const served = rounds.flatMap((round) => (round.production ? [round.production] : []));
  const firstRound = served[0];
  const lastRound = served[served.length - 1];
  if (!firstRound || !lastRound) return '';
  const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
  const accuracies = served.map((round) => round.accuracyOnKept);
  const below = accuracies.filter((accuracy) => accuracy < targetAccuracy).length;
  return (
    `In production (items no model had seen), the share kept by the small model rose from ${percent(firstRound.share)} in round 1 to ${percent(lastRound.share)} in round ${served.length}; ` +
    `accuracy on the kept items ranged ${percent(Math.min(...accuracies))}–${percent(Math.max(...accuracies))}` +
    (below > 0 ? `, below the ${percent(targetAccuracy)} target in ${below} of ${served.length} rounds: a threshold chosen on the golden set is slightly optimistic out of sample.` : '.')
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
