/**
 * Coverage–accuracy curves of several scores on one dataset as a self-contained SVG (written by hand,
 * no packages; the same look as the routing plot): coverage on x, accuracy among the accepted items on
 * y, one line per score, with the reported coverages marked.
 */
import { escapeXml, percentGrid } from '../eval/render';
import type { CoveragePoint } from './coverage';

export interface CoverageCurve {
  label: string;
  color: string;
  points: readonly CoveragePoint[];
  dashed?: boolean;
}

const width = 760;
const height = 480;
const margin = { left: 70, right: 260, top: 40, bottom: 55 };

export function renderCoverageAccuracySvg(title: string, curves: readonly CoverageCurve[], markedCoverages: readonly number[]): string {
  const accuracies = curves.flatMap((curve) => curve.points.map((point) => point.accuracy));
  const yLow = Math.max(0, Math.floor((Math.min(...accuracies) - 0.01) * 20) / 20);
  const yHigh = Math.min(1, Math.ceil((Math.max(...accuracies) + 0.005) * 20) / 20);
  const plotWidth = width - margin.left - margin.right;
  const plotHeight = height - margin.top - margin.bottom;
  const x = (coverage: number) => margin.left + coverage * plotWidth;
  const y = (accuracy: number) => margin.top + (1 - (accuracy - yLow) / (yHigh - yLow)) * plotHeight;

  const grid = percentGrid({ x, y, margin, plotWidth, plotHeight, xTicks: Array.from({ length: 11 }, (_, tick) => tick / 10), yLow, yHigh });
  const lines = curves.map(
    (curve) =>
      `<polyline fill="none" stroke="${curve.color}" stroke-width="2"${curve.dashed ? ' stroke-dasharray="6 4"' : ''} points="${curve.points
        .map((point) => `${x(point.coverage).toFixed(1)},${y(point.accuracy).toFixed(1)}`)
        .join(' ')}"/>`,
  );
  const marks = curves.flatMap((curve) =>
    curve.points
      .filter((point) => markedCoverages.some((coverage) => Math.abs(coverage - point.coverage) < 1e-9))
      .map(
        (point) =>
          `<circle cx="${x(point.coverage).toFixed(1)}" cy="${y(point.accuracy).toFixed(1)}" r="4" fill="${curve.color}"><title>${escapeXml(
            `${curve.label}: ${(point.accuracy * 100).toFixed(1)}% at ${Math.round(point.coverage * 100)}% coverage`,
          )}</title></circle>`,
      ),
  );
  const legend = curves.map(
    (curve, index) =>
      `<rect x="${width - margin.right + 15}" y="${margin.top + index * 20}" width="12" height="12" fill="${curve.color}"/>` +
      `<text x="${width - margin.right + 33}" y="${margin.top + index * 20 + 10}">${escapeXml(curve.label)}</text>`,
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...grid,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#444"/>`,
    `<text x="${margin.left + plotWidth / 2}" y="${height - 12}" text-anchor="middle">coverage (share of answers accepted, most confident first)</text>`,
    `<text transform="translate(18 ${margin.top + plotHeight / 2}) rotate(-90)" text-anchor="middle">accuracy of the accepted answers</text>`,
    ...lines,
    ...marks,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
