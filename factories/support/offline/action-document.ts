/**
 * The action document written after a sales call, from the extracted call info by template: a title,
 * a short summary of who, what hurts, who else is in the picture and the budget, and action items
 * (the agreed next steps, plus follow-ups the info calls for).
 */
import type { ActionDocument, ExtractCallInfoOutput } from '../schemas';

export interface WrittenDocument {
  document: ActionDocument;
  /** 0.85 with agreed next steps to build on; 0.65 when the items are generic follow-ups. */
  confidence: number;
}

function listed(items: string[]): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1] as string}`;
}

export function writeActionDocument(info: ExtractCallInfoOutput): WrittenDocument {
  const who = info.customer ?? 'the prospect';
  const summaryParts = [`Call with ${who}.`];
  if (info.painPoints.length > 0) summaryParts.push(`Pain points raised: ${info.painPoints.map((point) => point.replace(/[.!?]+$/, '')).join('; ')}.`);
  else summaryParts.push('No specific pain points were raised.');
  if (info.competitors.length > 0) summaryParts.push(`Also mentioned: ${listed(info.competitors)}.`);
  if (info.budgetUsd !== undefined) summaryParts.push(`Budget discussed: about $${info.budgetUsd.toLocaleString('en-US')}.`);
  summaryParts.push(info.nextSteps.length > 0 ? `${info.nextSteps.length} next step(s) agreed.` : 'No next steps were agreed on the call.');

  const actionItems = [...info.nextSteps];
  if (info.competitors.length > 0) actionItems.push(`Prepare a comparison against ${listed(info.competitors)}`);
  if (info.budgetUsd === undefined) actionItems.push(`Confirm budget and timeline with ${who}`);
  if (info.nextSteps.length === 0) actionItems.push(`Schedule a follow-up call with ${who} to agree next steps`);

  return {
    document: { title: `Call follow-up: ${who}`, summary: summaryParts.join(' '), actionItems },
    confidence: info.nextSteps.length > 0 ? 0.85 : 0.65,
  };
}
