/**
 * Currencies the local extractors recognise: symbols and words → ISO 4217 codes, and fixed approximate
 * USD rates. The rates only feed risk thresholds and refund proposals (which a person approves); they
 * are deliberately static so the same ticket always gets the same decision.
 */
import type { ExtractEntitiesOutput } from '../schemas';

export type Money = ExtractEntitiesOutput['amounts'][number];

/** Approximate USD per unit, mid-2025. */
export const approximateUsdRates: Record<string, number> = {
  USD: 1,
  EUR: 1.1,
  GBP: 1.3,
  CAD: 0.73,
  AUD: 0.66,
  CHF: 1.15,
  JPY: 0.0068,
  INR: 0.012,
};

export const currencyCodes = Object.keys(approximateUsdRates);

export const currencySymbols: Record<string, string> = {
  US$: 'USD',
  C$: 'CAD',
  CA$: 'CAD',
  A$: 'AUD',
  AU$: 'AUD',
  $: 'USD',
  '€': 'EUR',
  '£': 'GBP',
  '¥': 'JPY',
  '₹': 'INR',
};

export const currencyWords: Record<string, string> = {
  dollar: 'USD',
  dollars: 'USD',
  bucks: 'USD',
  euro: 'EUR',
  euros: 'EUR',
  pound: 'GBP',
  pounds: 'GBP',
  yen: 'JPY',
  rupees: 'INR',
};

export function approximateUsd(money: Money): number {
  return Math.round(money.value * (approximateUsdRates[money.currency] ?? 1) * 100) / 100;
}
