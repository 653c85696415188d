/**
 * The report's files: report.json, a markdown summary (report.md) and two hand-written SVG plots —
 * coverage against accuracy on covered items, and cost per item against accuracy — one point per
 * threshold, the chosen threshold highlighted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Agreement, CurvePoint, EvalReport } from './metrics';

export interface ReportContext {
  dataset: string;
  /** The factory (name and version), the station evaluated and the job type whose policy decides its steps. */
  factory: string;
  station: string;
  jobType: string;
  source: string;
  splitNote: string;
  modelFile: string;
  modelLabels: number;
  registry: { tier: string; modelId: string; inputPricePerMTokUsd: number; outputPricePerMTokUsd: number }[];
  command: string;
  generatedAt: string;
}

export interface FullReport extends EvalReport {
  context: ReportContext;
  durable?: { report: EvalReport; agreement: Omit<Agreement, 'disagreements'> & { disagreements: Agreement['disagreements'] } };
}

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;
const dollars = (value: number) => `$${value.toFixed(8)}`;
/** Text made safe for SVG/HTML text and attribute values. */
export const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

interface PlotPoint {
  x: number;
  y: number;
  label: string;
  highlighted: boolean;
}

interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xFormat: (value: number) => string;
  yFormat: (value: number) => string;
  points: PlotPoint[];
}

function niceRange(values: number[], floorAtZero: boolean): [number, number] {
  let low = Math.min(...values);
  let high = Math.max(...values);
  if (floorAtZero) low = Math.min(0, low);
  if (high - low < 1e-12) {
    high += Math.abs(high) * 0.05 || 0.01;
    low -= Math.abs(low) * 0.05 || 0.01;
  }
  const pad = (high - low) * 0.05;
  return [floorAtZero && low >= 0 ? Math.max(0, low - pad) : low - pad, high + pad];
}

/**
 * The light grid of a plot whose axes are both shares, labelled in percent: a vertical line per x tick
 * (shares in [0, 1]) and a horizontal one every 5 points of y from `yLow` to `yHigh` (the coverage–accuracy
 * and cost–quality plots).
 */
export function percentGrid(frame: {
  x: (share: number) => number;
  y: (share: number) => number;
  margin: { left: number; top: number };
  plotWidth: number;
  plotHeight: number;
  xTicks: readonly number[];
  yLow: number;
  yHigh: number;
}): string[] {
  const { x, y, margin, plotWidth, plotHeight } = frame;
  const grid: string[] = [];
  for (const share of frame.xTicks) {
    grid.push(`<line x1="${x(share)}" y1="${margin.top}" x2="${x(share)}" y2="${margin.top + plotHeight}" stroke="#eee"/>`);
    grid.push(`<text x="${x(share)}" y="${margin.top + plotHeight + 18}" text-anchor="middle">${Math.round(share * 100)}%</text>`);
  }
  for (let accuracy = frame.yLow; accuracy <= frame.yHigh + 1e-9; accuracy += 0.05) {
    grid.push(`<line x1="${margin.left}" y1="${y(accuracy).toFixed(1)}" x2="${margin.left + plotWidth}" y2="${y(accuracy).toFixed(1)}" stroke="#eee"/>`);
    grid.push(`<text x="${margin.left - 8}" y="${(y(accuracy) + 4).toFixed(1)}" text-anchor="end">${Math.round(accuracy * 100)}%</text>`);
  }
  return grid;
}

/** A line plot with axes, ticks and labelled points, as a standalone SVG document. */
export function linePlotSvg(options: PlotOptions): string {
  const width = 640;
  const height = 420;
  const margin = { left: 80, right: 30, top: 46, bottom: 60 };
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const [xMin, xMax] = niceRange(options.points.map((point) => point.x), true);
  const [yMin, yMax] = niceRange(options.points.map((point) => point.y), false);
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotWidth;
  const sy = (y: number) => margin.top + plotHeight - ((y - yMin) / (yMax - yMin)) * plotHeight;
  const ticks = (low: number, high: number) => Array.from({ length: 6 }, (_, step) => low + ((high - low) * step) / 5);
  const ordered = [...options.points].sort((a, b) => a.x - b.x || a.y - b.y);
  const pathData = ordered.map((point, index) => `${index === 0 ? 'M' : 'L'}${sx(point.x).toFixed(1)},${sy(point.y).toFixed(1)}`).join(' ');
  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#999"/>`,
  ];
  for (const tick of ticks(xMin, xMax)) {
    const x = sx(tick).toFixed(1);
    lines.push(`<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotHeight}" stroke="#eee"/>`);
    lines.push(`<text x="${x}" y="${margin.top + plotHeight + 16}" text-anchor="middle">${escapeXml(options.xFormat(tick))}</text>`);
  }
  for (const tick of ticks(yMin, yMax)) {
    const y = sy(tick).toFixed(1);
    lines.push(`<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotWidth}" y2="${y}" stroke="#eee"/>`);
    lines.push(`<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(options.yFormat(tick))}</text>`);
  }
  lines.push(`<text x="${margin.left + plotWidth / 2}" y="${height - 16}" text-anchor="middle">${escapeXml(options.xLabel)}</text>`);
  lines.push(
    `<text x="18" y="${margin.top + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${margin.top + plotHeight / 2})">${escapeXml(options.yLabel)}</text>`,
  );
  lines.push(`<path d="${pathData}" fill="none" stroke="#2b6cb0" stroke-width="2"/>`);
  for (const point of ordered) {
    const x = sx(point.x).toFixed(1);
    const y = sy(point.y).toFixed(1);
    const colour = point.highlighted ? '#c53030' : '#2b6cb0';
    lines.push(`<circle cx="${x}" cy="${y}" r="${point.highlighted ? 5 : 3}" fill="${colour}"><title>${escapeXml(point.label)}</title></circle>`);
    if (point.highlighted) lines.push(`<text x="${x}" y="${(Number(y) - 10).toFixed(1)}" text-anchor="middle" fill="${colour}">${escapeXml(point.label)}</text>`);
  }
  lines.push('</svg>');
  return `${lines.join('\n')}\n`;
}

function thresholdLabel(point: CurvePoint): string {
  return `t=${point.threshold}`;
}

export function coverageAccuracySvg(report: EvalReport, dataset: string): string {
  return linePlotSvg({
    title: `${dataset}: coverage vs accuracy on covered items`,
    xLabel: 'coverage (share kept by the small model)',
    yLabel: 'accuracy on covered items',
    xFormat: percent,
    yFormat: percent,
    points: report.curve.map((point) => ({
      x: point.coverage,
      y: point.accuracyOnCovered,
      label: `${thresholdLabel(point)}: ${percent(point.coverage)} covered, ${percent(point.accuracyOnCovered)} right`,
      highlighted: point.threshold === report.threshold,
    })),
  });
}

export function costQualitySvg(report: EvalReport, dataset: string): string {
  return linePlotSvg({
    title: `${dataset}: cost per item vs accuracy`,
    xLabel: 'cost per item (USD, small model + estimated escalations)',
    yLabel: 'accuracy (escalations assumed right)',
    xFormat: (value) => `$${value.toExponential(1)}`,
    yFormat: percent,
    points: report.curve.map((point) => ({
      x: point.costPerItemUsd,
      y: point.accuracy,
      label: `${thresholdLabel(point)}: ${dollars(point.costPerItemUsd)}, ${percent(point.accuracy)}`,
      highlighted: point.threshold === report.threshold,
    })),
  });
}

export function reportMarkdown(report: FullReport): string {
  const { context } = report;
  const lines = [
    `# Evaluation: ${context.dataset}`,
    '',
    `- Items: ${report.n} — ${context.splitNote}`,
    `- Data: ${context.source}`,
    `- Model under evaluation (small tier): ${context.modelFile} (${context.modelLabels} labels)`,
    `- Station: ${context.station} of factory ${context.factory}, decided by job type ${context.jobType}'s policy`,
    `- Threshold (${context.station}): ${report.threshold}`,
    `- Command: \`${context.command}\``,
    `- Generated: ${context.generatedAt}`,
    '',
    '| measure | value |',
    '| --- | --- |',
    `| accuracy | ${percent(report.accuracy)} |`,
    `| coverage (kept by the small model) | ${percent(report.coverage)} |`,
    `| accuracy on covered items | ${percent(report.accuracyOnCovered)} |`,
    `| escalation rate | ${percent(report.escalationRate)} |`,
    `| cost per item (small + estimated escalation) | ${dollars(report.costPerItemUsd)} |`,
    `| cost per item (every call of the route) | ${dollars(report.routeCostPerItemUsd)} |`,
    `| latency p50 / p95 per item | ${report.p50Ms.toFixed(3)} ms / ${report.p95Ms.toFixed(3)} ms |`,
    `| out-of-scope items (escalated / kept) | ${report.outOfScope.n} (${report.outOfScope.escalated} / ${report.outOfScope.coveredWrongly}) |`,
    '',
    '## Escalation by tier',
    '',
    '| tier | items reaching it | passed on | ended here |',
    '| --- | --- | --- | --- |',
    ...Object.keys(report.reachedByTier).map(
      (tier) =>
        `| ${tier} | ${report.reachedByTier[tier] ?? 0} | ${percent(report.escalationRateByTier[tier] ?? 0)} | ${percent(report.finalStopShare[tier as keyof typeof report.finalStopShare] ?? 0)} |`,
    ),
    `| human | ${Math.round(report.finalStopShare.human * report.n)} | — | ${percent(report.finalStopShare.human)} |`,
    '',
    '## Registry',
    '',
    '| tier | model | input $/1M tok | output $/1M tok |',
    '| --- | --- | --- | --- |',
    ...context.registry.map((entry) => `| ${entry.tier} | ${entry.modelId} | ${entry.inputPricePerMTokUsd} | ${entry.outputPricePerMTokUsd} |`),
    '',
    '## Threshold curve',
    '',
    '![coverage vs accuracy](coverage-accuracy.svg) ![cost vs accuracy](cost-quality.svg)',
    '',
    '| threshold | coverage | accuracy on covered | accuracy | cost per item |',
    '| --- | --- | --- | --- | --- |',
    ...report.curve.map(
      (point) =>
        `| ${point.threshold === report.threshold ? `**${point.threshold}**` : point.threshold} | ${percent(point.coverage)} | ${percent(point.accuracyOnCovered)} | ${percent(point.accuracy)} | ${dollars(point.costPerItemUsd)} |`,
    ),
  ];
  if (report.durable) {
    const { agreement } = report.durable;
    lines.push(
      '',
      `## Durable run (${context.jobType} jobs on Temporal)`,
      '',
      `Decisions agreeing with the offline run: ${agreement.agreed} of ${agreement.n} (covered/escalated, small model's label and confidence, where the step ended).`,
      `Durable accuracy ${percent(report.durable.report.accuracy)}, coverage ${percent(report.durable.report.coverage)}, cost per item (ledger) ${dollars(report.durable.report.routeCostPerItemUsd)}.`,
    );
  }
  lines.push('', '## Assumptions', '', ...report.assumptions.map((assumption) => `- ${assumption}`), '');
  return lines.join('\n');
}

/** Writes report.json, report.md, coverage-accuracy.svg and cost-quality.svg; returns their paths. */
export function writeReportFiles(outDir: string, report: FullReport): string[] {
  const dir = path.resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, string]> = [
    ['report.json', `${JSON.stringify(report, null, 2)}\n`],
    ['report.md', reportMarkdown(report)],
    ['coverage-accuracy.svg', coverageAccuracySvg(report, report.context.dataset)],
    ['cost-quality.svg', costQualitySvg(report, report.context.dataset)],
  ];
  return files.map(([name, content]) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  });
}
