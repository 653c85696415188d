/**
 * PII redaction: what the detectors find (and leave alone), and, through the real gateway, that a call
 * to an openai-compatible model never puts personal data on the wire or in the cache while the local
 * provider reads the original text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { modelSpecSchema, type ModelSpec } from '../domain/models';
import { extractEntitiesOutputSchema } from '../factories/support/schemas';
import { createSqliteCacheStore } from '../providers/cache';
import { createModelGateway } from '../providers/gateway';
import { InvalidRedactionSettingError, isValidIban, passesLuhn, Redactor, redactionEnabledFor, redactionFromEnvironment, redactPii } from '../providers/redaction';
import { createRegistry, loadRegistry } from '../providers/registry';
import { answers, startFakeOpenAI, type FakeServer } from '../fakes/openai-server';
import { tempDir } from './support/temporal';
import { entityRules } from '../factories/support/offline';

const email = 'jane.doe.4471@example.org';
const card = '4111 1111 1111 1111';
const phone = '+44 20 7946 0958';
const iban = 'DE89 3704 0044 0532 0130 00';
const ticket = `Refund my order ORD-2024-0042 please. Reach me at ${email} or ${phone}; I paid with card ${card}, or pay back to ${iban}.`;
/** Every spelling of the values that must not leave the machine. */
const secrets = [email, card, card.replace(/ /g, ''), phone, phone.replace(/ /g, ''), iban, iban.replace(/ /g, '')];

describe('detectors', () => {
  it('redacts payment cards only when the Luhn check passes (13–19 digits, spaces or dashes)', () => {
    expect(passesLuhn('4111111111111111')).toBe(true);
    expect(passesLuhn('4111111111111112')).toBe(false);
    expect(redactPii('card 4111-1111-1111-1111 ok').text).toBe('card [CARD_1] ok');
    expect(redactPii('amex 3782 822463 10005 ok').text).toBe('amex [CARD_1] ok');
    expect(redactPii('not a card 4111 1111 1111 1112').text).toBe('not a card 4111 1111 1111 1112');
    expect(redactPii('reference 1234567890123456789012').text).toBe('reference 1234567890123456789012');
  });

  it('redacts IBANs only when the mod-97 checksum holds, with or without spaces', () => {
    expect(isValidIban('GB82 WEST 1234 5698 7654 32')).toBe(true);
    expect(isValidIban('GB82 WEST 1234 5698 7654 31')).toBe(false);
    expect(redactPii(`to ${iban} AND GB82WEST12345698765432 but not GB82WEST12345698765431`).text).toBe(
      'to [IBAN_1] AND [IBAN_2] but not GB82WEST12345698765431',
    );
  });

  it('redacts international and national phone numbers but not ids, dates or amounts', () => {
    const { text, mapping } = redactPii('+1 (555) 123-4567, +44 20 7946 0958, 0049 151 12345678, +4915112345678, (555) 123-4567, 555.123.4567');
    expect(text).toBe('[PHONE_1], [PHONE_2], [PHONE_3], [PHONE_3], [PHONE_4], [PHONE_4]');
    expect(mapping.originals.get('[PHONE_3]')).toBe('0049 151 12345678');
    const harmless = 'Order ORD-2024-0042 of 2024-01-15 10:30, ref 1234567890, #A12345, 12.05.2024, 1,234.56 EUR, server 192.168.100.200';
    expect(redactPii(harmless).text).toBe(harmless);
  });

  it('redacts emails in running text, one stable placeholder per value, and restores the originals', () => {
    const redactor = new Redactor();
    const redacted = redactor.redactText(`Write to ${email}, cc ops@shop.example.com, or JANE.DOE.4471@EXAMPLE.ORG.`);
    expect(redacted).toBe('Write to [EMAIL_1], cc [EMAIL_2], or [EMAIL_1].');
    const structured = redactor.redact({ customer: { contact: email, notes: ['no card here', 42] } });
    expect(structured).toEqual({ customer: { contact: '[EMAIL_1]', notes: ['no card here', 42] } });
    expect(redactor.restore({ emails: ['[EMAIL_2]', '[EMAIL_9]'] })).toEqual({ emails: ['ops@shop.example.com', '[EMAIL_9]'] });
  });

  it('is on for remote providers and off for local ones, unless CONVEYOR_REDACT or the model says otherwise', () => {
    const model = (provider: ModelSpec['provider'], options: Record<string, unknown> = {}) =>
      modelSpecSchema.parse({ id: provider, provider, providerModel: 'm', tier: 'small', inputPricePerMTokUsd: 0, outputPricePerMTokUsd: 0, contextWindow: 1000, structuredOutput: true, options });
    expect(['openai-compatible', 'anthropic', 'local', 'replay'].map((kind) => redactionEnabledFor(model(kind as ModelSpec['provider']), undefined))).toEqual([true, true, false, false]);
    expect(redactionEnabledFor(model('openai-compatible'), redactionFromEnvironment({ CONVEYOR_REDACT: 'off' }))).toBe(false);
    expect(redactionEnabledFor(model('local'), redactionFromEnvironment({ CONVEYOR_REDACT: 'on' }))).toBe(true);
    expect(redactionEnabledFor(model('openai-compatible', { redact: true }), false)).toBe(true);
    expect(redactionEnabledFor(model('anthropic', { redact: false }), true)).toBe(false);
    expect(() => redactionFromEnvironment({ CONVEYOR_REDACT: 'yes' })).toThrow(InvalidRedactionSettingError);
    expect(() => redactionEnabledFor(model('anthropic', { redact: 'off' }), undefined)).toThrow(/options\.redact/);
  });
});

describe('through the gateway', () => {
  const servers: FakeServer[] = [];
  const cacheDir = tempDir('redaction-cache');
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
    fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('sends placeholders to an openai-compatible model, restores them in the answer, caches no PII, and gives the local model the original', async () => {
    // The fake remote model answers in placeholders, as a model that only saw the redacted ticket would.
    const server = await startFakeOpenAI(() => answers.json({ orderIds: ['ORD-2024-0042'], amounts: [], dates: [], emails: ['[EMAIL_1]'], phones: ['[PHONE_1]'] }));
    servers.push(server);
    const remote = modelSpecSchema.parse({
      id: 'remote-small',
      provider: 'openai-compatible',
      providerModel: 'gpt-4o-mini',
      tier: 'small',
      inputPricePerMTokUsd: 0.15,
      outputPricePerMTokUsd: 0.6,
      contextWindow: 128_000,
      structuredOutput: true,
      options: { baseUrl: server.url, apiKeyEnv: 'TEST_API_KEY' },
    });
    const local = loadRegistry({}).models.find((model) => model.provider === 'local')!;
    const cacheFile = path.join(cacheDir, 'cache.sqlite');
    const cache = createSqliteCacheStore({ file: cacheFile });
    const gateway = createModelGateway({ registry: createRegistry([remote, local]), cache, rateLimiter: null, env: { TEST_API_KEY: 'sk-test' } });
    const extract = (modelId: string, customerEmail: string, cacheEnabled = true) => {
      const text = ticket.replace(email, customerEmail);
      return gateway.call({
        modelId,
        station: 'extract-entities',
        local: entityRules,
        input: { text },
        system: `Extract entities. The customer's registered address is ${customerEmail}.`,
        prompt: `Ticket: ${text}`,
        schema: extractEntitiesOutputSchema,
        cache: { enabled: cacheEnabled },
      });
    };
    try {
      const remoteOutcome = await extract(remote.id, email);
      expect(remoteOutcome.output.emails).toEqual([email]);
      expect(remoteOutcome.output.phones).toEqual([phone]);

      expect(server.requests).toHaveLength(1);
      const wire = JSON.stringify(server.requests.map((request) => request.body));
      for (const secret of secrets) expect(wire).not.toContain(secret);
      expect(wire).toContain('[EMAIL_1]');
      expect(wire).toContain('[CARD_1]');
      expect(wire).toContain('[IBAN_1]');

      // Same ticket for another customer: the redacted request is the same, so the cache answers,
      // restored with this caller's own values, not the first customer's.
      const otherEmail = 'sam.roe.9@example.net';
      const otherOutcome = await extract(remote.id, otherEmail);
      expect(otherOutcome).toMatchObject({ cacheHit: true, output: { emails: [otherEmail], phones: [phone] } });
      expect(server.requests).toHaveLength(1);

      // Local answers stay on the machine and are not redacted (kept out of the cache here only so the
      // cache file below holds remote answers alone).
      const localOutcome = await extract(local.id, email, false);
      expect(localOutcome.output.emails).toContain(email);
    } finally {
      await gateway.close();
      await cache.close();
    }
    const cacheBytes = fs
      .readdirSync(cacheDir)
      .map((file) => fs.readFileSync(path.join(cacheDir, file)).toString('latin1'))
      .join('\n');
    for (const secret of secrets) expect(cacheBytes).not.toContain(secret);
  });
});
