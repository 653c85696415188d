/**
 * Prompt-injection screening, the learned half: the project's calibrated logistic-regression text
 * classifier trained on data/screening/prompt-injection.csv, combined with the pure patterns of
 * domain/screening.ts. A text is flagged when a pattern matches or P(injection) reaches the threshold.
 */
import path from 'node:path';
import { matchInjectionPatterns, type ScreeningResult } from '../../domain/screening';
import { classifyText, type LabelledText, type TextClassifier } from './classifier';
import { loadLabelledFile, repositoryRoot } from './dataset';
import { modelVersionOf } from './model-file';
import { trainSizedClassifier } from './model-store';

export const screeningDataFile = path.join(repositoryRoot, 'data', 'screening', 'prompt-injection.csv');
export const INJECTION_THRESHOLD = 0.8;

export interface Screener {
  screen(text: string): ScreeningResult;
}

export function loadScreeningExamples(file = screeningDataFile): LabelledText[] {
  return loadLabelledFile(file, { textColumn: 'text', labelColumn: 'label' });
}

export function createScreener(examples: readonly LabelledText[] = loadScreeningExamples(), threshold = INJECTION_THRESHOLD): Screener {
  const model: TextClassifier = trainSizedClassifier(examples, 'medium', 7);
  const modelVersion = modelVersionOf('injection', model);
  return {
    screen(text) {
      const patterns = matchInjectionPatterns(text);
      const classification = classifyText(model, text);
      const score = classification.ranked.find((ranked) => ranked.label === 'injection')?.probability ?? 0;
      const reasons = [...patterns.map((name) => `pattern ${name}`), ...(score >= threshold ? [`classifier ${score.toFixed(2)} ≥ ${threshold}`] : [])];
      return { flagged: reasons.length > 0, score, reasons, modelVersion };
    },
  };
}

let shared: Screener | undefined;

/** The worker's screener, trained once per process on first use (well under a second). */
export function defaultScreener(): Screener {
  shared ??= createScreener();
  return shared;
}
