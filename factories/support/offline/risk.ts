/**
 * Risk assessment of a support ticket by rules over its intent, the amounts it mentions and keywords
 * (legal threats, chargebacks, fraud, safety, regulators, public complaints, anger). Every rule that
 * fires adds a reason; the level is the highest level among the fired rules.
 */
import type { AssessRiskOutput, SupportIntent, ExtractEntitiesOutput } from '../schemas';
import { approximateUsd } from './currency';

type RiskLevel = AssessRiskOutput['level'];

interface KeywordRule {
  pattern: RegExp;
  level: RiskLevel;
  reason: string;
  /** Sentiment words are weak evidence: a level decided only by them gets a lower confidence. */
  weak?: boolean;
}

const keywordRules: KeywordRule[] = [
  { pattern: /\b(lawyers?|attorneys?|solicitors?|sue|suing|lawsuit|legal action|take you to court|small claims)\b/i, level: 'high', reason: 'legal threat' },
  {
    pattern: /\b(charge ?backs?|dispute (the|this|a) (charge|payment|transaction)|file a dispute|reverse the (charge|payment))\b/i,
    level: 'high',
    reason: 'chargeback or payment dispute',
  },
  {
    pattern: /\b(fraud\w*|unauthori[sz]ed|scam(med)?|stolen|identity theft|hacked|did ?n[o']t (make|authori[sz]e) (this|that|these))\b/i,
    level: 'high',
    reason: 'possible fraud or account compromise',
  },
  { pattern: /\b(injur\w*|caught fire|burn(ed|t)|electric shock|unsafe|dangerous|smoke)\b/i, level: 'high', reason: 'possible safety issue' },
  {
    pattern: /\b(regulator|ombudsman|better business bureau|BBB|consumer protection|trading standards|FTC)\b/i,
    level: 'high',
    reason: 'threat to complain to a regulator',
  },
  { pattern: /\b(twitter|social media|trustpilot|bad review|go public|the press)\b/i, level: 'medium', reason: 'threat of a public complaint' },
  { pattern: /\b(unacceptable|furious|ridiculous|worst|disgusted|outraged|fed up|never again)\b/i, level: 'medium', reason: 'strong negative sentiment', weak: true },
];

const moneyMovingIntents: SupportIntent[] = ['refund_request', 'damaged_item', 'payment_problem', 'cancel_order'];
export const HIGH_AMOUNT_USD = 500;
export const MEDIUM_AMOUNT_USD = 100;

const levelRank: Record<RiskLevel, number> = { low: 0, medium: 1, high: 2 };

export interface RiskAssessment {
  risk: AssessRiskOutput;
  /** 0.9 when the level rests on an explicit rule (or on no signal at all); 0.7 when only on sentiment words. */
  confidence: number;
}

export function assessRisk(input: { text: string; intent: SupportIntent; entities: ExtractEntitiesOutput }): RiskAssessment {
  const fired: { level: RiskLevel; reason: string; weak: boolean }[] = [];
  for (const rule of keywordRules) {
    const match = rule.pattern.exec(input.text);
    if (match) fired.push({ level: rule.level, reason: `${rule.reason} ("${match[0]}")`, weak: rule.weak ?? false });
  }

  const largestUsd = Math.max(0, ...input.entities.amounts.map(approximateUsd));
  if (largestUsd >= HIGH_AMOUNT_USD) {
    fired.push({ level: 'high', reason: `amount of about $${largestUsd} is at least $${HIGH_AMOUNT_USD}`, weak: false });
  } else if (largestUsd >= MEDIUM_AMOUNT_USD && moneyMovingIntents.includes(input.intent)) {
    fired.push({ level: 'medium', reason: `${input.intent} involving about $${largestUsd} (at least $${MEDIUM_AMOUNT_USD})`, weak: false });
  }
  if (input.intent === 'close_account') fired.push({ level: 'medium', reason: 'account closure requested', weak: false });
  if (input.intent === 'complaint') fired.push({ level: 'medium', reason: 'formal complaint', weak: false });

  if (fired.length === 0) return { risk: { level: 'low', reasons: ['no risk signals found'] }, confidence: 0.9 };
  const level = fired.reduce<RiskLevel>((highest, rule) => (levelRank[rule.level] > levelRank[highest] ? rule.level : highest), 'low');
  const decidedOnlyByWeakRules = fired.filter((rule) => rule.level === level).every((rule) => rule.weak);
  return { risk: { level, reasons: fired.map((rule) => rule.reason) }, confidence: decidedOnlyByWeakRules ? 0.7 : 0.9 };
}
