/**
 * PII redaction for text that leaves the machine: before a remote provider sees a prompt or a
 * structured input, emails, phone numbers, payment card numbers (Luhn-checked) and IBANs (mod-97
 * checked) are replaced with typed placeholders such as `[EMAIL_1]` or `[CARD_1]`. A `Redactor` is one
 * call's session: the same value always gets the same placeholder, and the mapping it keeps restores
 * the originals in the answer. Whether a model's requests are redacted is decided per model: on by
 * default for remote providers, off for in-process ones, `CONVEYOR_REDACT` and the registry's
 * `options.redact` override. Detection is pattern based, so it is a safety net, not a guarantee:
 * names and street addresses are not found.
 */
import type { ModelSpec } from '../domain/models';

export type PiiKind = 'EMAIL' | 'PHONE' | 'CARD' | 'IBAN';

/** CONVEYOR_REDACT or a model's `options.redact` is not a valid setting; retrying cannot help. */
export class InvalidRedactionSettingError extends Error {
  override readonly name = 'InvalidRedactionSettingError';
  readonly retryable = false;
}

/** True when the digits (separators ignored) pass the Luhn check used by payment cards. */
export function passesLuhn(digits: string): boolean {
  const only = digits.replace(/\D/g, '');
  if (only.length === 0) return false;
  let sum = 0;
  for (let index = 0; index < only.length; index++) {
    let digit = Number(only[only.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

/** True when the text (spaces ignored) is a well-formed IBAN whose ISO 13616 mod-97 checksum is 1. */
export function isValidIban(text: string): boolean {
  const iban = text.replace(/\s/g, '').toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const value = character >= 'A' ? character.charCodeAt(0) - 55 : Number(character);
    remainder = (remainder * (value > 9 ? 100 : 10) + value) % 97;
  }
  return remainder === 1;
}

interface Detector {
  kind: PiiKind;
  pattern: RegExp;
  /** Filters pattern hits that are not the real thing (checksums, digit counts). */
  accept(match: string): boolean;
  /** Equal values (formatting aside) share one placeholder. */
  normalize(match: string): string;
  /** A failing hit may still start with a passing value (checksummed kinds only). */
  tryPrefixes: boolean;
}

const digitsOf = (text: string) => text.replace(/\D/g, '');

/**
 * In order: IBANs and emails first (their digits would otherwise look like phone or card numbers),
 * then cards (13–19 digits, spaces or dashes between, Luhn-valid), then phones. A phone needs a
 * leading `+`/`00`, parentheses or separators between digit groups, and 8–15 digits (ITU E.164): a
 * bare run of digits is treated as an id (order number, reference), not a phone number.
 */
const detectors: Detector[] = [
  {
    kind: 'IBAN',
    pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b/gi,
    accept: isValidIban,
    normalize: (match) => match.replace(/\s/g, '').toUpperCase(),
    tryPrefixes: true,
  },
  {
    kind: 'EMAIL',
    pattern: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b/g,
    accept: () => true,
    normalize: (match) => match.toLowerCase(),
    tryPrefixes: false,
  },
  {
    kind: 'CARD',
    // Card numbers never start with 0 (that is a trunk or international prefix) nor follow a "+".
    pattern: /(?<![\w+-])[1-9](?:[ -]?\d){12,18}(?![\w-])/g,
    accept: (match) => digitsOf(match).length >= 13 && digitsOf(match).length <= 19 && passesLuhn(match),
    normalize: digitsOf,
    tryPrefixes: true,
  },
  {
    kind: 'PHONE',
    pattern: /(?<![\w+-])(?:(?:\+|00)\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{1,5}(?:[ .-]\d{1,8}){1,5}(?![\w-])|(?<![\w+])\+\d{8,15}(?![\w-])/g,
    accept: (match) => {
      const count = digitsOf(match).length;
      const international = /^(?:\+|00)/.test(match);
      const dateOrAddress = /^(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{4}|\d{1,3}(?:\.\d{1,3}){3})(?!\d)/.test(match);
      return count >= (international ? 8 : 9) && count <= 15 && !dateOrAddress;
    },
    normalize: (match) => digitsOf(match).replace(/^00/, ''),
    tryPrefixes: false,
  },
];

/**
 * The hit itself when it passes, else its longest passing prefix that ends before a separator: a
 * greedy pattern may swallow a following word or number ("DE89 3704 0044 0532 0130 00 AND …").
 */
function longestAccepted(detector: Detector, match: string): string | undefined {
  if (detector.accept(match)) return match;
  if (!detector.tryPrefixes) return undefined;
  for (let end = match.length - 1; end > 0; end--) {
    if ((match[end] === ' ' || match[end] === '-') && /[A-Za-z0-9]/.test(match[end - 1] ?? '') && detector.accept(match.slice(0, end))) {
      return match.slice(0, end);
    }
  }
  return undefined;
}

/** Matches placeholders of any kind, so restoring finds them in answers. */
const placeholderPattern = /\[(EMAIL|PHONE|CARD|IBAN)_(\d+)\]/g;

export interface RedactionMapping {
  /** Placeholder → original value (as first seen). */
  readonly originals: ReadonlyMap<string, string>;
}

/** One call's redaction session: stable placeholders, and the mapping to restore answers. */
export class Redactor implements RedactionMapping {
  private readonly placeholderByValue = new Map<string, string>();
  private readonly counters = new Map<PiiKind, number>();
  readonly originals = new Map<string, string>();

  /** How many distinct values were replaced. */
  get count(): number {
    return this.originals.size;
  }

  private placeholderFor(kind: PiiKind, original: string, normalized: string): string {
    const key = `${kind}\u0000${normalized}`;
    let placeholder = this.placeholderByValue.get(key);
    if (!placeholder) {
      const next = (this.counters.get(kind) ?? 0) + 1;
      this.counters.set(kind, next);
      placeholder = `[${kind}_${next}]`;
      this.placeholderByValue.set(key, placeholder);
      this.originals.set(placeholder, original);
    }
    return placeholder;
  }

  /** The text with every detected value replaced by its placeholder. */
  redactText(text: string): string {
    let redacted = text;
    for (const detector of detectors) {
      redacted = redacted.replace(detector.pattern, (match) => {
        const value = longestAccepted(detector, match);
        return value === undefined ? match : this.placeholderFor(detector.kind, value, detector.normalize(value)) + match.slice(value.length);
      });
    }
    return redacted;
  }

  /** A copy of a JSON-like value with every string redacted (object keys are kept). */
  redact<T>(value: T): T {
    return mapStrings(value, (text) => this.redactText(text));
  }

  /** A copy of a JSON-like value with this session's placeholders replaced by the originals. */
  restore<T>(value: T): T {
    return mapStrings(value, (text) => text.replace(placeholderPattern, (placeholder) => this.originals.get(placeholder) ?? placeholder));
  }
}

function mapStrings<T>(value: T, transform: (text: string) => string): T {
  if (typeof value === 'string') return transform(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => mapStrings(item, transform)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, transform)])) as T;
  }
  return value;
}

/** Redacts one text in a fresh session; returns the text and the mapping. */
export function redactPii(text: string): { text: string; mapping: RedactionMapping } {
  const redactor = new Redactor();
  return { text: redactor.redactText(text), mapping: redactor };
}

const redactedByDefault: Record<ModelSpec['provider'], boolean> = {
  local: false,
  replay: false,
  'openai-compatible': true,
  anthropic: true,
};

/** Reads CONVEYOR_REDACT (`on` | `off`); undefined when unset. */
export function redactionFromEnvironment(env: NodeJS.ProcessEnv = process.env): boolean | undefined {
  const setting = env.CONVEYOR_REDACT?.trim().toLowerCase();
  if (!setting) return undefined;
  if (setting === 'on') return true;
  if (setting === 'off') return false;
  throw new InvalidRedactionSettingError(`CONVEYOR_REDACT=${env.CONVEYOR_REDACT} is not valid: use "on" or "off" (unset: on for remote providers, off for local and replay).`);
}

/**
 * Whether requests to this model are redacted: the model's `options.redact` when set, else
 * CONVEYOR_REDACT, else on for remote providers (openai-compatible, anthropic) and off for local and replay.
 */
export function redactionEnabledFor(model: ModelSpec, environmentSetting: boolean | undefined): boolean {
  const modelSetting = model.options.redact;
  if (modelSetting !== undefined && typeof modelSetting !== 'boolean') {
    throw new InvalidRedactionSettingError(`${model.id}: options.redact must be true or false in the model registry (got ${JSON.stringify(modelSetting)}).`);
  }
  return modelSetting ?? environmentSetting ?? redactedByDefault[model.provider];
}
