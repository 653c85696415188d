/**
 * A fake OpenAI chat-completions server (POST /v1/chat/completions) driven by a script of answers, for
 * tests of the openai-compatible provider and of anything built on it. See scripted-server.ts.
 */
import { answers, contentOf, startScriptedServer, type FakeScript, type FakeServer } from './scripted-server';

export { answers, type FakeAnswer, type FakeScript, type FakeServer, type RecordedRequest } from './scripted-server';

export function startFakeOpenAI(script: FakeScript = [answers.text('ok')]): Promise<FakeServer> {
  let completion = 0;
  return startScriptedServer(script, {
    success(answer, request) {
      const model = (request.body as { model?: string } | undefined)?.model ?? 'fake-model';
      const usage = answer.usage ?? { inputTokens: 11, outputTokens: 7 };
      return {
        id: `chatcmpl-${++completion}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: contentOf(answer) },
            ...(answer.kind === 'json' && answer.logprobs ? { logprobs: { content: answer.logprobs.map((entry) => ({ ...entry, bytes: null, top_logprobs: [] })) } } : {}),
            finish_reason: 'stop',
          },
        ],
        usage: {
          prompt_tokens: usage.inputTokens,
          completion_tokens: usage.outputTokens,
          total_tokens: usage.inputTokens + usage.outputTokens,
          ...(usage.cachedInputTokens !== undefined ? { prompt_tokens_details: { cached_tokens: usage.cachedInputTokens } } : {}),
          ...(usage.reasoningTokens !== undefined ? { completion_tokens_details: { reasoning_tokens: usage.reasoningTokens } } : {}),
        },
      };
    },
    errorBody: (answer) => ({
      error: { message: answer.message ?? `HTTP ${answer.status}`, type: answer.status === 429 ? 'rate_limit_exceeded' : 'invalid_request_error', code: answer.code ?? null },
    }),
  });
}
