/**
 * Rule-based entity extraction for support tickets: order ids, money amounts with their currency,
 * calendar dates (as ISO YYYY-MM-DD), email addresses and phone numbers. Extractors run in a fixed
 * order and blank out what they matched, so an order number is not also read as a phone number and a
 * date is not also read as an amount. Results are listed in the order they appear in the text.
 */
import type { ExtractEntitiesOutput } from '../schemas';
import { currencyCodes, currencySymbols, currencyWords, type Money } from './currency';

interface Found<T> {
  value: T;
  start: number;
  end: number;
  /** How sure the pattern is, for the extraction confidence (see confidenceOfExtraction). */
  certainty: number;
}

const monthNumbers: Record<string, number> = {
  jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, sept: 9, oct: 10, nov: 11, dec: 12,
};
const monthPattern = '(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\\.?';

function isoDate(year: number, month: number, day: number): string | undefined {
  if (month < 1 || month > 12 || day < 1 || year < 1900 || year > 2199) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

function monthOf(name: string): number {
  return monthNumbers[name.toLowerCase().replace('.', '').slice(0, name.toLowerCase().startsWith('sept') ? 4 : 3)] ?? 0;
}

function findAll<T>(text: string, pattern: RegExp, read: (match: RegExpExecArray) => { value: T; certainty: number } | undefined): Found<T>[] {
  const found: Found<T>[] = [];
  for (const match of text.matchAll(pattern)) {
    const result = read(match);
    if (result) found.push({ ...result, start: match.index, end: match.index + match[0].length });
  }
  return found;
}

export function findEmails(text: string): Found<string>[] {
  return findAll(text, /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g, (match) => ({ value: match[0], certainty: 0.99 }));
}

export function findOrderIds(text: string): Found<string>[] {
  const hasDigits = (id: string, count: number): boolean => (id.match(/\d/g)?.length ?? 0) >= count;
  return [
    // "#A12345", "order #55123"
    ...findAll(text, /#\s?([A-Za-z0-9][A-Za-z0-9-]{3,})\b/g, (match) => {
      const id = match[1] as string;
      return hasDigits(id, 3) ? { value: id, certainty: 0.95 } : undefined;
    }),
    // "ORD-2024-0042", "INV-88812"
    ...findAll(text, /\b[A-Z]{2,5}-\d[0-9A-Z]*(?:-[0-9A-Z]+)*\b/g, (match) => (hasDigits(match[0], 3) ? { value: match[0], certainty: 0.95 } : undefined)),
    // "order 123456789", "order number: 77812", "order no. A-5512"
    ...findAll(
      text,
      /\border(?:\s+(?:number|no\.?|num|id|ref(?:erence)?))?\s*(?:is|was|:)?\s*([A-Za-z0-9][A-Za-z0-9-]{4,})\b/gi,
      (match) => {
        const id = match[1] as string;
        return hasDigits(id, 4) ? { value: id, certainty: 0.9 } : undefined;
      },
    ).map((found) => ({ ...found, start: found.end - found.value.length })),
  ];
}

export function findDates(text: string): Found<string>[] {
  const dayPattern = '(\\d{1,2})(?:st|nd|rd|th)?';
  return [
    ...findAll(text, /\b(\d{4})-(\d{1,2})-(\d{1,2})\b/g, (match) => {
      const value = isoDate(Number(match[1]), Number(match[2]), Number(match[3]));
      return value ? { value, certainty: 0.99 } : undefined;
    }),
    // "12 March 2026", "12th of March, 2026"
    ...findAll(text, new RegExp(`\\b${dayPattern}\\s+(?:of\\s+)?${monthPattern},?\\s+(\\d{4})\\b`, 'gi'), (match) => {
      const value = isoDate(Number(match[3]), monthOf(match[2] as string), Number(match[1]));
      return value ? { value, certainty: 0.97 } : undefined;
    }),
    // "March 12, 2026", "Mar 12th 2026"
    ...findAll(text, new RegExp(`\\b${monthPattern}\\s+${dayPattern},?\\s+(\\d{4})\\b`, 'gi'), (match) => {
      const value = isoDate(Number(match[3]), monthOf(match[1] as string), Number(match[2]));
      return value ? { value, certainty: 0.97 } : undefined;
    }),
    // "03/12/2026" (month first unless impossible), "12.03.2026" (day first, the European convention).
    ...findAll(text, /\b(\d{1,2})([/.-])(\d{1,2})\2(\d{4})\b/g, (match) => {
      const first = Number(match[1]);
      const second = Number(match[3]);
      const year = Number(match[4]);
      const dayFirst = match[2] === '.' || first > 12;
      const value = dayFirst ? isoDate(year, second, first) : isoDate(year, first, second);
      const ambiguous = match[2] !== '.' && first <= 12 && second <= 12 && first !== second;
      return value ? { value, certainty: ambiguous ? 0.7 : 0.95 } : undefined;
    }),
  ];
}

/** Reads "1,234.56", "1.234,56", "12,50", "1,200" and a k/m suffix. */
export function parseAmount(digits: string, suffix = ''): number | undefined {
  let normalised = digits;
  const lastComma = digits.lastIndexOf(',');
  const lastDot = digits.lastIndexOf('.');
  if (lastComma > lastDot && /,\d{1,2}$/.test(digits)) normalised = digits.replace(/\./g, '').replace(',', '.');
  else normalised = digits.replace(/,/g, '');
  if (!/^\d+(\.\d+)?$/.test(normalised)) return undefined;
  const multiplier = /^k|thousand/i.test(suffix) ? 1_000 : /^m|million/i.test(suffix) ? 1_000_000 : 1;
  return Math.round(Number(normalised) * multiplier * 100) / 100;
}

const numberPattern = '(\\d{1,3}(?:[.,]\\d{3})+(?:[.,]\\d{1,2})?|\\d+(?:[.,]\\d{1,2})?)';
const suffixPattern = '(?:\\s?(k|m|thousand|million)\\b)?';

export function findAmounts(text: string): Found<Money>[] {
  const symbols = Object.keys(currencySymbols)
    .sort((a, b) => b.length - a.length)
    .map((symbol) => symbol.replace(/\$/g, '\\$'))
    .join('|');
  const codes = currencyCodes.join('|');
  const words = Object.keys(currencyWords).join('|');
  const money = (value: number | undefined, currency: string | undefined, certainty: number) =>
    value === undefined || currency === undefined ? undefined : { value: { value, currency }, certainty };
  return [
    ...findAll(text, new RegExp(`(${symbols})\\s?${numberPattern}${suffixPattern}`, 'gi'), (match) =>
      money(parseAmount(match[2] as string, match[3]), currencySymbols[(match[1] as string).toUpperCase()], 0.97),
    ),
    ...findAll(text, new RegExp(`\\b(${codes})\\s?${numberPattern}${suffixPattern}`, 'g'), (match) =>
      money(parseAmount(match[2] as string, match[3]), match[1], 0.97),
    ),
    ...findAll(text, new RegExp(`(?<![\\d.,])${numberPattern}${suffixPattern}\\s?(?:(${codes})\\b|(€|£)|(${words})\\b)`, 'gi'), (match) => {
      const currency = match[3] ? match[3].toUpperCase() : match[4] ? currencySymbols[match[4]] : currencyWords[(match[5] ?? '').toLowerCase()];
      return money(parseAmount(match[1] as string, match[2]), currency, match[5] ? 0.85 : 0.95);
    }),
  ];
}

export function findPhones(text: string): Found<string>[] {
  return findAll(text, /(?<![\w+#-])(\+?\(?\d[\d\s().-]{5,}\d)(?![\w-])/g, (match) => {
    const written = (match[1] as string).trim();
    const dateShaped = /^\d{4}-\d{1,2}-\d{1,2}$|^\d{1,2}([/.-])\d{1,2}\1\d{4}$/.test(written);
    if (dateShaped) return undefined;
    const digits = written.replace(/\D/g, '');
    const international = written.startsWith('+');
    const separatorsOtherThanSpace = /[().-]/.test(written);
    const nationalWithSpaces = /^0/.test(digits) && digits.length >= 10 && digits.length <= 11;
    if (international ? digits.length < 8 || digits.length > 15 : digits.length < 7 || digits.length > 11) return undefined;
    if (!international && !separatorsOtherThanSpace && !nationalWithSpaces) return undefined;
    return { value: `${international ? '+' : ''}${digits}`, certainty: international ? 0.95 : 0.85 };
  });
}

function blank(text: string, spans: Found<unknown>[]): string {
  let result = text;
  for (const span of spans) result = result.slice(0, span.start) + ' '.repeat(span.end - span.start) + result.slice(span.end);
  return result;
}

function inOrder<T>(found: Found<T>[]): Found<T>[] {
  const sorted = [...found].sort((a, b) => a.start - b.start);
  return sorted.filter((item, index) => !sorted.slice(0, index).some((earlier) => item.start < earlier.end));
}

function uniqueValues<T>(found: Found<T>[], key: (value: T) => string): T[] {
  const seen = new Set<string>();
  return found.filter((item) => !seen.has(key(item.value)) && seen.add(key(item.value))).map((item) => item.value);
}

export interface EntityExtraction {
  entities: ExtractEntitiesOutput;
  /**
   * Heuristic confidence: the least certain pattern that matched (an ambiguous 03/04/2026 date counts
   * 0.7), lowered to 0.75 when a run of three or more digits is left unexplained (a possible miss).
   */
  confidence: number;
}

export function extractEntities(text: string): EntityExtraction {
  let remaining = text;
  const take = <T>(finder: (input: string) => Found<T>[]): Found<T>[] => {
    const found = inOrder(finder(remaining));
    remaining = blank(remaining, found);
    return found;
  };
  const emails = take(findEmails);
  const orderIds = take(findOrderIds);
  const dates = take(findDates);
  const amounts = take(findAmounts);
  const phones = take(findPhones);

  const certainties = [...emails, ...orderIds, ...dates, ...amounts, ...phones].map((found) => found.certainty);
  let confidence = Math.min(0.97, ...certainties);
  if (/\d{3,}/.test(remaining)) confidence = Math.min(confidence, 0.75);
  return {
    entities: {
      orderIds: uniqueValues(orderIds, (id) => id.toUpperCase()),
      amounts: uniqueValues(amounts, (money) => `${money.value} ${money.currency}`),
      dates: uniqueValues(dates, (date) => date),
      emails: uniqueValues(emails, (email) => email.toLowerCase()),
      phones: uniqueValues(phones, (phone) => phone),
    },
    confidence,
  };
}
