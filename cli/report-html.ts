/**
 * The report as one self-contained HTML page: inline CSS and inline SVG bar charts (cost by tier,
 * escalation rate per tier, a histogram of job wall time) beside the same tables the markdown has.
 * No scripts and no external resources, so it opens offline, in a mail client or as a CI artefact.
 * Each chart is an `<svg data-chart="…">` whose bars are `<rect class="bar" data-label data-value>`.
 */
import { tiers } from '../domain/models';
import { escapeXml } from '../evaluation/eval/render';
import { usd } from './output';
import type { ConveyorReport } from './report';

export interface ChartBar {
  label: string;
  value: number;
  /** The value as printed above the bar. */
  caption: string;
}

const chartWidth = 460;
const chartHeight = 240;
const plot = { top: 28, bottom: 44, left: 16, right: 16 };


/** A vertical bar chart; bar heights are proportional to values, the tallest filling the plot area. */
export function barChart(id: string, title: string, bars: readonly ChartBar[], options: { color?: string; emptyText?: string } = {}): string {
  const titleId = `${id}-title`;
  const innerWidth = chartWidth - plot.left - plot.right;
  const innerHeight = chartHeight - plot.top - plot.bottom;
  const baseline = plot.top + innerHeight;
  const max = Math.max(0, ...bars.map((bar) => bar.value));
  const slot = bars.length ? innerWidth / bars.length : innerWidth;
  const barWidth = Math.max(4, Math.min(72, slot * 0.6));
  const shapes = bars.map((bar, index) => {
    const height = max > 0 ? (bar.value / max) * innerHeight : 0;
    const x = plot.left + slot * index + (slot - barWidth) / 2;
    const centre = x + barWidth / 2;
    return [
      `<rect class="bar" data-label="${escapeXml(bar.label)}" data-value="${bar.value}" x="${x.toFixed(1)}" y="${(baseline - height).toFixed(1)}" width="${barWidth.toFixed(1)}" height="${height.toFixed(1)}" fill="${options.color ?? '#3b5bdb'}"><title>${escapeXml(`${bar.label}: ${bar.caption}`)}</title></rect>`,
      `<text class="value" x="${centre.toFixed(1)}" y="${(baseline - height - 6).toFixed(1)}" text-anchor="middle">${escapeXml(bar.caption)}</text>`,
      `<text class="label" x="${centre.toFixed(1)}" y="${baseline + 18}" text-anchor="middle">${escapeXml(bar.label)}</text>`,
    ].join('');
  });
  const empty = bars.length === 0 ? `<text class="label" x="${chartWidth / 2}" y="${plot.top + innerHeight / 2}" text-anchor="middle">${escapeXml(options.emptyText ?? 'no data')}</text>` : '';
  return [
    `<figure><figcaption id="${titleId}">${escapeXml(title)}</figcaption>`,
    `<svg data-chart="${id}" role="img" aria-labelledby="${titleId}" width="${chartWidth}" height="${chartHeight}" viewBox="0 0 ${chartWidth} ${chartHeight}">`,
    `<line class="axis" x1="${plot.left}" y1="${baseline}" x2="${chartWidth - plot.right}" y2="${baseline}"/>`,
    ...shapes,
    empty,
    '</svg></figure>',
  ].join('\n');
}

/** A rate as a percentage, or a dash when there was nothing to divide by (shared with the markdown). */
export const percent = (rate: number | null) => (rate === null ? '–' : `${(rate * 100).toFixed(1)}%`);
export const ms = (value: number) => (value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`);
/** Bucket bounds are round numbers: "250ms", "2s", "1.5m" keep the axis labels short. */
const bucketBound = (value: number) => (value >= 60_000 ? `${+(value / 60_000).toFixed(1)}m` : value >= 1000 ? `${+(value / 1000).toFixed(1)}s` : `${value}ms`);

function htmlTable(header: string[], rows: (string | number)[][]): string {
  const cells = (tag: 'th' | 'td', values: (string | number)[]) => values.map((value) => `<${tag}>${escapeXml(String(value))}</${tag}>`).join('');
  return `<table><thead><tr>${cells('th', header)}</tr></thead><tbody>${rows.map((row) => `<tr>${cells('td', row)}</tr>`).join('')}</tbody></table>`;
}

export function renderReportHtml(report: ConveyorReport): string {
  const { jobs, cost, escalations, approvals, latency } = report;
  const costChart = barChart(
    'cost-by-tier',
    'Cost by tier (USD)',
    tiers.map((tier) => ({ label: tier, value: cost.byTier[tier], caption: usd(cost.byTier[tier]) })),
  );
  const escalationChart = barChart(
    'escalation-rate',
    'Escalation rate per tier (escalated calls / calls)',
    tiers.map((tier) => ({ label: tier, value: escalations.byTier[tier].rate ?? 0, caption: percent(escalations.byTier[tier].rate) })),
    { color: '#e8590c' },
  );
  const latencyChart = barChart(
    'latency-histogram',
    'Job wall time (jobs per bucket)',
    latency.histogram.map((bucket) => ({ label: `<${bucketBound(bucket.toMs)}`, value: bucket.count, caption: String(bucket.count) })),
    { color: '#2b8a3e', emptyText: 'no finished jobs' },
  );
  const scope = `Jobs since ${report.filter.since}, type ${report.filter.type ?? 'all'}${report.filter.taskQueue ? `, task queue ${report.filter.taskQueue}` : ''}. Generated ${report.generatedAt}.`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Conveyor report</title>
<style>
  body { font: 14px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1040px; color: #1f2328; padding: 0 16px; }
  h1 { font-size: 22px; margin-bottom: 4px; }
  h2 { font-size: 16px; margin: 28px 0 8px; }
  .scope { color: #57606a; margin-top: 0; }
  .charts { display: flex; flex-wrap: wrap; gap: 16px; }
  figure { margin: 0; border: 1px solid #d0d7de; border-radius: 6px; padding: 8px; background: #fff; }
  figcaption { font-weight: 600; margin-bottom: 4px; }
  svg text { font: 12px system-ui, sans-serif; fill: #1f2328; }
  svg .axis { stroke: #8c959f; stroke-width: 1; }
  table { border-collapse: collapse; margin: 4px 0 12px; }
  th, td { border: 1px solid #d0d7de; padding: 4px 10px; text-align: right; }
  th { background: #f6f8fa; }
  td:first-child, th:first-child { text-align: left; }
</style>
</head>
<body>
<h1>Conveyor report</h1>
<p class="scope">${escapeXml(scope)}</p>
<div class="charts">
${costChart}
${escalationChart}
${latencyChart}
</div>
<h2>Jobs</h2>
${htmlTable(
  ['Total', 'Completed', 'Rejected', 'Failed', 'Running', 'Awaiting approval', 'Completion rate'],
  [[jobs.total, jobs.completed, jobs.rejected, jobs.failed, jobs.running, jobs.awaitingApproval, percent(jobs.completionRate)]],
)}
<h2>Cost</h2>
${htmlTable(
  ['Total', 'Jobs priced', 'Mean per job', 'p50 per job', 'p95 per job', 'Max per job', 'Outside the ledger'],
  [[usd(cost.totalUsd), cost.jobsCosted, usd(cost.perJob.meanUsd), usd(cost.perJob.p50Usd), usd(cost.perJob.p95Usd), usd(cost.perJob.maxUsd), usd(cost.outsideLedgerUsd)]],
)}
${htmlTable(['Input tokens', 'of which cached', 'Output tokens', 'of which reasoning', 'Failovers'], [[cost.tokens.input, cost.tokens.cachedInput, cost.tokens.output, cost.tokens.reasoning, cost.failovers]])}
<h2>Tiers</h2>
${htmlTable(
  ['Tier', 'Cost', 'Model calls', 'Escalated', 'Escalation rate'],
  [
    ...tiers.map((tier) => [tier, usd(cost.byTier[tier]), escalations.byTier[tier].calls, escalations.byTier[tier].escalated, percent(escalations.byTier[tier].rate)]),
    ['human', '–', '–', `${escalations.jobsToHuman} job(s)`, percent(escalations.toHumanRate)],
  ],
)}
<h2>Approvals</h2>
${htmlTable(['Approved', 'Rejected', 'Refused', 'Timeouts'], [[approvals.approved, approvals.rejected, approvals.refused, approvals.timeouts]])}
<h2>Latency</h2>
${htmlTable(['Jobs', 'p50', 'p95', 'Mean', 'Max'], [[latency.job.count, ms(latency.job.p50Ms), ms(latency.job.p95Ms), ms(latency.job.meanMs), ms(latency.job.maxMs)]])}
${latency.byStation.length ? htmlTable(['Station', 'Model calls', 'p50', 'p95'], latency.byStation.map((row) => [row.station, row.calls, ms(row.p50Ms), ms(row.p95Ms)])) : '<p>No model calls.</p>'}
</body>
</html>
`;
}
