/**
 * The cost–quality picture of one benchmark as a self-contained SVG (written by hand, no packages):
 * cost as a share of the all-strong cost on x, accuracy on y; the router's curve, random routing's
 * line, the oracle, the weak and strong models, the 95%-of-strong accuracy line and the router's
 * cheapest point above it.
 */
import { escapeXml, percentGrid } from '../../evaluation/eval/render';
import type { OperatingPoint } from './cost-quality';

export interface CostQualityPlot {
  title: string;
  routerCurve: readonly OperatingPoint[];
  /** A second router curve drawn fainter, for comparison. */
  comparisonCurve?: { label: string; points: readonly OperatingPoint[] };
  randomCurve: readonly OperatingPoint[];
  weak: OperatingPoint;
  strong: OperatingPoint;
  oracle: OperatingPoint;
  chosen: OperatingPoint;
  qualityTarget: number;
}

const width = 760;
const height = 480;
const margin = { left: 70, right: 240, top: 40, bottom: 55 };

export function renderCostQualitySvg(plot: CostQualityPlot): string {
  const accuracies = [plot.weak.accuracy, plot.strong.accuracy, plot.oracle.accuracy, plot.qualityTarget, ...plot.routerCurve.map((point) => point.accuracy)];
  const yLow = Math.floor((Math.min(...accuracies) - 0.02) * 20) / 20;
  const yHigh = Math.ceil((Math.max(...accuracies) + 0.02) * 20) / 20;
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (costShare: number) => margin.left + costShare * plotWidth;
  const y = (accuracy: number) => margin.top + (1 - (accuracy - yLow) / (yHigh - yLow)) * plotHeight;
  const polyline = (points: readonly OperatingPoint[], style: string) =>
    `<polyline fill="none" ${style} points="${points.map((point) => `${x(point.costShare).toFixed(1)},${y(point.accuracy).toFixed(1)}`).join(' ')}"/>`;
  const marker = (point: OperatingPoint, color: string, shape: 'circle' | 'square' | 'diamond') => {
    const cx = x(point.costShare).toFixed(1);
    const cy = y(point.accuracy).toFixed(1);
    if (shape === 'circle') return `<circle cx="${cx}" cy="${cy}" r="5" fill="${color}"/>`;
    if (shape === 'square') return `<rect x="${Number(cx) - 5}" y="${Number(cy) - 5}" width="10" height="10" fill="${color}"/>`;
    return `<polygon fill="${color}" points="${cx},${Number(cy) - 7} ${Number(cx) + 7},${cy} ${cx},${Number(cy) + 7} ${Number(cx) - 7},${cy}"/>`;
  };

  const grid = percentGrid({ x, y, margin, plotWidth, plotHeight, xTicks: [0, 0.2, 0.4, 0.6, 0.8, 1], yLow, yHigh });

  const legend: [string, string][] = [
    ['#1f5fbf', 'router (threshold sweep)'],
    ...(plot.comparisonCurve ? ([['#9db7e0', plot.comparisonCurve.label]] as [string, string][]) : []),
    ['#888', 'random routing (expected)'],
    ['#c0392b', '95% of strong accuracy'],
    ['#2e8b57', 'oracle'],
    ['#e67e22', 'weak model only'],
    ['#222', 'strong model only'],
  ];
  const legendItems = legend.map(
    ([color, label], index) =>
      `<rect x="${width - margin.right + 15}" y="${margin.top + index * 20}" width="12" height="12" fill="${color}"/>` +
      `<text x="${width - margin.right + 33}" y="${margin.top + index * 20 + 10}">${escapeXml(label)}</text>`,
  );

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(plot.title)}</text>`,
    ...grid,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">cost (share of always using the strong model, estimated tokens)</text>`,
    `<text transform="translate(18 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">accuracy on test questions</text>`,
    `<line x1="${margin.left}" y1="${y(plot.qualityTarget).toFixed(1)}" x2="${margin.left + plotWidth}" y2="${y(plot.qualityTarget).toFixed(1)}" stroke="#c0392b" stroke-dasharray="2 3"/>`,
    polyline(plot.randomCurve, 'stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"'),
    ...(plot.comparisonCurve ? [polyline(plot.comparisonCurve.points, 'stroke="#9db7e0" stroke-width="1.5"')] : []),
    polyline(plot.routerCurve, 'stroke="#1f5fbf" stroke-width="2"'),
    marker(plot.weak, '#e67e22', 'square'),
    marker(plot.strong, '#222', 'square'),
    marker(plot.oracle, '#2e8b57', 'diamond'),
    `<circle cx="${x(plot.chosen.costShare).toFixed(1)}" cy="${y(plot.chosen.accuracy).toFixed(1)}" r="6" fill="none" stroke="#1f5fbf" stroke-width="2"/>`,
    `<text x="${(x(plot.chosen.costShare) + 9).toFixed(1)}" y="${(y(plot.chosen.accuracy) + 16).toFixed(1)}" fill="#1f5fbf">cheapest ≥ 95%</text>`,
    ...legendItems,
    '</svg>',
    '',
  ].join('\n');
}
