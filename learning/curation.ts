/**
 * Curation of a distill run's data, pure and deterministic: base examples and collected examples are
 * folded by normalised text (same text, same label → one row keeping the highest weight); a text whose
 * rows disagree on the label is dropped altogether, since nobody can say which label is right; texts
 * in the golden set are dropped so the evaluation stays unseen; and per label the newest share of the
 * collected examples is held out — the candidate is judged on the most recent production traffic.
 * Training rows repeat each example by its (rounded) weight.
 */
import type { LabelledText } from '../providers/local/classifier';
import type { CollectedExample, CurationSummary } from './types';

export interface CurationInput {
  base: readonly LabelledText[];
  collected: readonly CollectedExample[];
  /** Texts that must not be trained on (the golden set). */
  excludedTexts?: readonly string[];
  /** Share of each label's collected examples, newest first, held out from training. */
  heldOutFraction: number;
}

export interface CuratedExample extends LabelledText {
  weight: number;
  origin: 'base' | 'collected';
  createdAt: string | null;
}

export interface Curation {
  train: CuratedExample[];
  heldOut: CuratedExample[];
  summary: Omit<CurationSummary, 'trainRows'>;
}

/** The key texts are compared by: Unicode-normalised, lower-cased, whitespace collapsed. */
export function normalizedText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/\s+/g, ' ').trim();
}

export function curateExamples(input: CurationInput): Curation {
  const excluded = new Set((input.excludedTexts ?? []).map(normalizedText));
  const rows: CuratedExample[] = [
    ...input.base.map((example): CuratedExample => ({ text: example.text, label: example.label, weight: 1, origin: 'base', createdAt: null })),
    ...input.collected.map((example): CuratedExample => ({ text: example.text, label: example.label, weight: example.weight, origin: 'collected', createdAt: example.createdAt })),
  ];

  let goldenOverlapDropped = 0;
  const byText = new Map<string, CuratedExample[]>();
  for (const row of rows) {
    const key = normalizedText(row.text);
    if (excluded.has(key)) {
      goldenOverlapDropped++;
      continue;
    }
    const group = byText.get(key);
    if (group) group.push(row);
    else byText.set(key, [row]);
  }

  let duplicatesMerged = 0;
  let conflictingTexts = 0;
  let conflictingRowsDropped = 0;
  const unique: CuratedExample[] = [];
  for (const group of byText.values()) {
    if (new Set(group.map((row) => row.label)).size > 1) {
      conflictingTexts++;
      conflictingRowsDropped += group.length;
      continue;
    }
    duplicatesMerged += group.length - 1;
    // Keep the heaviest row; among equals the newest collected one (it carries the recency).
    const kept = group.reduce((best, row) =>
      row.weight > best.weight || (row.weight === best.weight && (row.createdAt ?? '') > (best.createdAt ?? '')) ? row : best,
    );
    unique.push({ ...kept, origin: group.some((row) => row.origin === 'collected') ? 'collected' : 'base', createdAt: maxCreatedAt(group) });
  }

  const { train, heldOut } = holdOutRecent(unique, input.heldOutFraction);
  return {
    train,
    heldOut,
    summary: {
      baseExamples: input.base.length,
      collectedExamples: input.collected.length,
      duplicatesMerged,
      conflictingTexts,
      conflictingRowsDropped,
      goldenOverlapDropped,
      trainExamples: train.length,
      heldOutExamples: heldOut.length,
      labels: new Set(train.map((row) => row.label)).size,
    },
  };
}

function maxCreatedAt(group: readonly CuratedExample[]): string | null {
  const stamps = group.map((row) => row.createdAt).filter((stamp): stamp is string => stamp !== null);
  return stamps.length === 0 ? null : stamps.reduce((a, b) => (b > a ? b : a));
}

/**
 * Stratified by label: of each label's collected examples, the newest floor(n × fraction) are held
 * out (so a label needs 1/fraction collected examples before it gives any up). Base rows always train.
 */
export function holdOutRecent(rows: readonly CuratedExample[], fraction: number): { train: CuratedExample[]; heldOut: CuratedExample[] } {
  const collectedByLabel = new Map<string, CuratedExample[]>();
  for (const row of rows) {
    if (row.origin !== 'collected') continue;
    const group = collectedByLabel.get(row.label);
    if (group) group.push(row);
    else collectedByLabel.set(row.label, [row]);
  }
  const heldOutRows = new Set<CuratedExample>();
  for (const group of collectedByLabel.values()) {
    const newestFirst = [...group].sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? '') || a.text.localeCompare(b.text));
    for (const row of newestFirst.slice(0, Math.floor(group.length * fraction))) heldOutRows.add(row);
  }
  return { train: rows.filter((row) => !heldOutRows.has(row)), heldOut: rows.filter((row) => heldOutRows.has(row)) };
}

/** Training rows: each example repeated by its weight (at least once). */
export function repeatByWeight(rows: readonly CuratedExample[]): LabelledText[] {
  const repeated: LabelledText[] = [];
  for (const row of rows) {
    for (let copy = 0; copy < Math.max(1, Math.round(row.weight)); copy++) repeated.push({ text: row.text, label: row.label });
  }
  return repeated;
}
