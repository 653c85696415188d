/**
 * A fake Anthropic Messages server (POST /v1/messages) driven by a script of answers. When the client
 * asks for JSON through the forced `json` tool, the answer comes back as that tool's input, as Anthropic
 * does; otherwise as a text block. See scripted-server.ts.
 */
import { answers, contentOf, startScriptedServer, type FakeScript, type FakeServer } from './scripted-server';

export { answers, type FakeAnswer, type FakeScript, type FakeServer, type RecordedRequest } from './scripted-server';

const errorTypes: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

export function startFakeAnthropic(script: FakeScript = [answers.text('ok')]): Promise<FakeServer> {
  let message = 0;
  return startScriptedServer(script, {
    success(answer, request) {
      const body = request.body as { model?: string; tools?: Array<{ name?: string }> } | undefined;
      const usage = answer.usage ?? { inputTokens: 13, outputTokens: 9 };
      const viaJsonTool = answer.kind === 'json' && body?.tools?.some((tool) => tool.name === 'json') === true;
      return {
        id: `msg_${++message}`,
        type: 'message',
        role: 'assistant',
        model: body?.model ?? 'claude-fake',
        content: viaJsonTool
          ? [{ type: 'tool_use', id: `toolu_${message}`, name: 'json', input: answer.value }]
          : [{ type: 'text', text: contentOf(answer) }],
        stop_reason: viaJsonTool ? 'tool_use' : 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens },
      };
    },
    errorBody: (answer) => ({
      type: 'error',
      error: { type: errorTypes[answer.status] ?? 'api_error', message: answer.message ?? `HTTP ${answer.status}` },
    }),
  });
}
