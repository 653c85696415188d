/**
 * Answers given ahead (engine v3, workflows/patches.ts): a local activity that can already answer the
 * request the job will make next does so in the same round — the job's start answers its opening
 * station calls, a station call answers the assessment of the action that reads it
 * (activities/factory.ts). The workflow takes such an answer only for a request equal to its own, field
 * for field, and only once; any other request goes to its own activity. The answers arrive inside a
 * recorded activity's result, so a replay takes the same ones.
 */
import type { AnswerAhead } from '../activities/factory';
import { canonicalJson } from '../domain/hash';

type Activity = AnswerAhead['activity'];
interface Answered {
  callStation: Extract<AnswerAhead, { activity: 'callStation' }>;
  assessProposal: Extract<AnswerAhead, { activity: 'assessProposal' }>;
}

const keyOf = (activity: Activity, request: unknown) => `${activity} ${canonicalJson(request)}`;

export class AnswersAhead {
  private readonly byRequest = new Map<string, AnswerAhead>();

  offer(answers: readonly AnswerAhead[] | undefined): void {
    for (const answer of answers ?? []) this.byRequest.set(keyOf(answer.activity, answer.request), answer);
  }

  /** The answer given ahead for exactly this request, taken (a second equal request goes to its activity). */
  take<A extends Activity>(activity: A, request: Answered[A]['request']): Answered[A]['result'] | undefined {
    if (this.byRequest.size === 0) return undefined;
    const key = keyOf(activity, request);
    const answer = this.byRequest.get(key);
    if (!answer) return undefined;
    this.byRequest.delete(key);
    return (answer as Answered[A]).result;
  }
}
