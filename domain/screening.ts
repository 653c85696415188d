/**
 * Prompt-injection screening, the pure half: patterns that recognise attempts to override the
 * factory's instructions. The workflow treats a flagged job's every action as sensitive, whatever
 * the job type's policy says; the learned half lives with the activities.
 */
export interface ScreeningResult {
  flagged: boolean;
  /** Probability of injection from the local classifier, in [0, 1]. */
  score: number;
  /** Which patterns matched, and whether the classifier crossed its threshold. */
  reasons: string[];
  modelVersion: string;
}

const injectionPatterns: { name: string; pattern: RegExp }[] = [
  { name: 'override-instructions', pattern: /\b(ignore|disregard|forget|override)\b[^.]{0,40}\b(previous|prior|earlier|above|all|your)\b[^.]{0,20}\b(instructions?|prompts?|rules|guidelines|directions)\b/i },
  { name: 'system-prompt-probe', pattern: /\b(reveal|print|show|repeat|output)\b[^.]{0,30}\b(system prompt|hidden instructions|api key|secret)/i },
  { name: 'role-hijack', pattern: /\b(you are (now|no longer)|pretend (you are|to be)|act as)\b[^.]{0,40}\b(ai|assistant|dan|developer mode|unrestricted|admin)/i },
  { name: 'fake-system-message', pattern: /(^|\s)(system\s*:|<\/?system>|###\s*system|new instructions from)/i },
  { name: 'skip-approval', pattern: /\b(without (asking )?(a )?(reviewer|approval|manager)|skip (the )?approval|approved by a manager)\b/i },
];

/** Names of the patterns the text matches. */
/** Every string in a job's input, one per line: what screening reads. */
export function screeningText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(screeningText).join('\n');
  if (value !== null && typeof value === 'object') return Object.values(value).map(screeningText).join('\n');
  return '';
}

export function matchInjectionPatterns(text: string): string[] {
  return injectionPatterns.filter(({ pattern }) => pattern.test(text)).map(({ name }) => name);
}

/** Why an action must wait for a person because the job's input was flagged. */
export function screeningSensitivity(screening: ScreeningResult | undefined): string | undefined {
  if (!screening?.flagged) return undefined;
  return `the job's input was flagged by prompt-injection screening (${screening.reasons.join(', ')})`;
}

/**
 * What an approval's timeout decides: the policy's outcome, except that a flagged job is never approved
 * by a timeout (it rejects instead), whatever the policy says — a person must approve its actions.
 */
export function timeoutVerdict(onTimeout: 'escalate' | 'reject' | 'approve', screening: ScreeningResult | undefined): 'approve' | 'reject' {
  return onTimeout === 'approve' && !screening?.flagged ? 'approve' : 'reject';
}
