/**
 * The ticketing system's side of `file-ticket`, as few lines as a team needs: verify each webhook with a
 * Standard Webhooks library, file each ticket once (a retry carries the same webhook-id), answer with the
 * ticket's id (Conveyor keeps it as the action's receipt). Here "filing" appends to tickets.jsonl.
 *
 *   HOTLINE_TICKETS_SECRET=whsec_… node receiver.ts     (Node 24 runs this TypeScript as it is)
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

const secret = process.env.HOTLINE_TICKETS_SECRET;
if (!secret) throw new Error('set HOTLINE_TICKETS_SECRET to the whsec_… secret the worker signs with');
const hook = new Webhook(secret);
const ticketsFile = process.env.HOTLINE_TICKETS_FILE ?? 'tickets.jsonl';
// What was filed, by webhook-id (a real system: a unique index on it).
const filed = new Set(fs.existsSync(ticketsFile) ? fs.readFileSync(ticketsFile, 'utf8').split('\n').filter(Boolean).map((line) => (JSON.parse(line) as { key: string }).key) : []);

interface Envelope {
  jobId: string;
  data: { department: string; urgency: string; location: string; note: { title: string; body: string } };
  approvers: string[];
}

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString()));
  req.on('end', () => {
    let envelope: Envelope;
    try {
      envelope = hook.verify(body, req.headers as Record<string, string>) as Envelope;
    } catch {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'signature does not verify' }));
      return;
    }
    const id = String(req.headers['webhook-id']);
    if (!filed.has(id)) {
      filed.add(id);
      fs.appendFileSync(ticketsFile, `${JSON.stringify({ key: id, ...envelope.data, approvedBy: envelope.approvers })}\n`);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: `HL-${envelope.jobId}` }));
  });
});

server.listen(Number(process.env.HOTLINE_RECEIVER_PORT ?? 8787), '127.0.0.1', () => {
  console.log(`hotline receiver: listening on http://127.0.0.1:${(server.address() as AddressInfo).port}/tickets`);
});
