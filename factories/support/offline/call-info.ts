/**
 * Rule-based extraction from a sales-call transcript: who the customer is, their pain points, the
 * agreed next steps, competitors mentioned (from a fixed list) and the budget. Transcripts may carry
 * speaker labels ("Rep: …", "Dana: …"); lines spoken by the seller are not mined for pain points or
 * for the customer's introduction.
 */
import type { ExtractCallInfoOutput } from '../schemas';
import { findAmounts } from './entities';
import { approximateUsd } from './currency';

export const knownCompetitors = [
  'Salesforce', 'HubSpot', 'Zendesk', 'Intercom', 'Freshdesk', 'Gong', 'Chorus', 'Pipedrive', 'Zoho',
  'Outreach', 'Salesloft', 'Microsoft Dynamics', 'ServiceNow', 'Monday.com', 'Asana', 'Jira', 'Slack', 'Twilio',
];

const sellerLabels = /^(rep|agent|sales|seller|salesperson|account executive|ae|sdr|host|interviewer|me)$/i;
const painCues =
  /\b(struggl\w*|problem\w*|pain\w*|frustrat\w*|too long|too slow|slow|manual\w*|expensive|costly|can ?not|can't|cannot|difficult|hard to|issues?|challeng\w*|losing|lose|waste\w*|wasting|headache|broken|error-prone|churn)\b/i;
const nextStepCues =
  /\b(next steps?|follow[- ]up|follow up|send (you |over )?(the |a )?|i'?ll send|we'?ll send|schedule|set up|book (a|the)|demo|trial|pilot|proposal|quote|by (monday|tuesday|wednesday|thursday|friday|next week|end of)|loop in|circle back|check in)\b/i;
const budgetCues = /\b(budget\w*|spend|allocated|set aside|price range|afford|can pay|up to)\b/i;

interface Utterance {
  speaker?: string;
  text: string;
}

function utterancesOf(transcript: string): Utterance[] {
  return transcript
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const labelled = /^([A-Z][\w .'-]{0,40}?)(?:\s*\([^)]*\))?:\s+(.*)$/.exec(line);
      return labelled ? { speaker: (labelled[1] as string).trim(), text: labelled[2] as string } : { text: line };
    });
}

function sentencesOf(text: string): string[] {
  return text
    .split(/(?<=[.!?])\s+/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => sentence.length > 3);
}

const isSeller = (utterance: Utterance): boolean => utterance.speaker !== undefined && sellerLabels.test(utterance.speaker);

function findCustomer(utterances: Utterance[]): string | undefined {
  const namePattern = "([A-Z][a-z'-]+(?: [A-Z][a-z'-]+)?)";
  const companyWord = '[A-Z][\\w&-]*(?:\\.(?:com|io|ai|co))?';
  const companyPattern = `(${companyWord}(?: ${companyWord}){0,3})`;
  const introduction = new RegExp(`\\b(?:this is|my name is|I'm|I am)\\s+${namePattern}(?:,?\\s+(?:from|at|with|of)\\s+${companyPattern})?`);
  for (const utterance of utterances.filter((candidate) => !isSeller(candidate))) {
    const match = introduction.exec(utterance.text);
    if (match) return match[2] ? `${match[1]} (${match[2]})` : match[1];
  }
  const customerSpeaker = utterances.find((utterance) => utterance.speaker !== undefined && !isSeller(utterance) && !/^customer$/i.test(utterance.speaker));
  return customerSpeaker?.speaker;
}

export interface CallInfoExtraction {
  info: ExtractCallInfoOutput;
  /** Share of the five fields found, mapped into [0.5, 0.9]: rules miss things they were not written for. */
  confidence: number;
}

export function extractCallInfo(transcript: string): CallInfoExtraction {
  const utterances = utterancesOf(transcript);
  const customerSentences = utterances.filter((utterance) => !isSeller(utterance)).flatMap((utterance) => sentencesOf(utterance.text));
  const allSentences = utterances.flatMap((utterance) => sentencesOf(utterance.text));

  const painPoints = [...new Set(customerSentences.filter((sentence) => painCues.test(sentence)))].slice(0, 5);
  const nextSteps = [...new Set(allSentences.filter((sentence) => nextStepCues.test(sentence)))].slice(0, 5);
  const competitors = knownCompetitors.filter((name) => new RegExp(`\\b${name.replace('.', '\\.')}\\b`, 'i').test(transcript));
  const budgets = allSentences.filter((sentence) => budgetCues.test(sentence)).flatMap((sentence) => findAmounts(sentence).map((found) => approximateUsd(found.value)));
  const customer = findCustomer(utterances);

  const info: ExtractCallInfoOutput = {
    ...(customer ? { customer } : {}),
    painPoints,
    nextSteps,
    competitors,
    ...(budgets.length > 0 ? { budgetUsd: Math.max(...budgets) } : {}),
  };
  const fieldsFound = [customer, painPoints[0], nextSteps[0], competitors[0], info.budgetUsd].filter((field) => field !== undefined).length;
  return { info, confidence: Math.round((0.5 + 0.08 * fieldsFound) * 100) / 100 };
}
