/**
 * How the support factory's stations answer offline (each station's `local`): two classifiers the
 * engine trains from the demo data in data/demo, and rules and templates for the rest. Written with the
 * public definition API only; the rules are plain functions of the station's input.
 */
import { localClassifier, type LocalAnswerResult } from '../../../factory/define';
import type {
  ActionDocument,
  AssessRiskOutput,
  CheckRelevanceOutput,
  ClassifyIntentOutput,
  DraftReplyOutput,
  ExtractCallInfoOutput,
  ExtractEntitiesOutput,
  ProposedAction,
  SupportIntent,
} from '../schemas';
import { supportIntents } from '../schemas';
import { writeActionDocument } from './action-document';
import { proposeAction } from './action';
import { extractCallInfo } from './call-info';
import { extractEntities } from './entities';
import { draftReply } from './reply';
import { assessRisk } from './risk';

// The definitions are also imported, for their schemas, by the frozen first workflow inside Temporal's
// sandbox, which has no __dirname; nothing trains there, so the path only has to be right in Node.
const repositoryRoot = typeof __dirname === 'string' ? `${__dirname}/../../..` : '/';

/** A labelled file of the project's demo data (data/demo). */
export const demoDataFile = (name: string): string => `${repositoryRoot}/data/demo/${name}`;

/** Ticket text → intent: trained from data/demo/support-intents.csv; `options.modelFile` names a saved model. */
export const intentClassifier = localClassifier<{ text: string }, ClassifyIntentOutput>({
  name: 'intent',
  trainingFile: demoDataFile('support-intents.csv'),
  labels: supportIntents,
  modelFileOption: 'modelFile',
  text: (input) => input.text,
  output: ({ label, confidence, ranked }) => ({
    intent: label as SupportIntent,
    confidence,
    alternatives: ranked.slice(1, 5).map(({ label: intent, probability }) => ({ intent, probability })),
  }),
});

/** Call snippet → relevant or not: trained from data/demo/call-snippets.csv; `options.relevanceModelFile` names a saved model. */
export const relevanceClassifier = localClassifier<{ transcript: string }, CheckRelevanceOutput>({
  name: 'relevance',
  trainingFile: demoDataFile('call-snippets.csv'),
  labels: ['relevant', 'irrelevant'],
  modelFileOption: 'relevanceModelFile',
  text: (input) => input.transcript,
  output: ({ label, confidence }) => ({ relevant: label === 'relevant', confidence }),
});

const answer = <O>(output: O, confidence: number, modelVersion: string): LocalAnswerResult<O> => ({ output, confidence, modelVersion });

export const entityRules = (input: { text: string }): LocalAnswerResult<ExtractEntitiesOutput> => {
  const { entities, confidence } = extractEntities(input.text);
  return answer(entities, confidence, 'entity-rules@1');
};

export const riskRules = (input: { text: string; intent: SupportIntent; entities: ExtractEntitiesOutput }): LocalAnswerResult<AssessRiskOutput> => {
  const { risk, confidence } = assessRisk(input);
  return answer(risk, confidence, 'risk-rules@1');
};

export const replyTemplates = (input: { intent: SupportIntent; entities: ExtractEntitiesOutput; customerName?: string }): LocalAnswerResult<DraftReplyOutput> => {
  const { reply, confidence } = draftReply(input);
  return answer(reply, confidence, 'reply-templates@1');
};

export const actionRules = (input: Parameters<typeof proposeAction>[0]): LocalAnswerResult<ProposedAction> => {
  const { action, confidence } = proposeAction(input);
  return answer(action, confidence, 'action-rules@1');
};

export const callInfoRules = (input: { transcript: string }): LocalAnswerResult<ExtractCallInfoOutput> => {
  const { info, confidence } = extractCallInfo(input.transcript);
  return answer(info, confidence, 'call-info-rules@1');
};

export const actionDocumentTemplate = (input: { info: ExtractCallInfoOutput }): LocalAnswerResult<ActionDocument> => {
  const { document, confidence } = writeActionDocument(input.info);
  return answer(document, confidence, 'action-document-template@1');
};
