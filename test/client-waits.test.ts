/**
 * A client waiting for a result outlives a server's transient errors (a loaded dev server fails a
 * long poll with UNAVAILABLE now and then), and gives up on anything else, or after its patience.
 */
import { ServiceError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { waitThroughOutages } from '../client';

const grpcError = (code: number) => new ServiceError('Failed to get Workflow execution history', { cause: Object.assign(new Error(`${code} grpc error`), { code }) });

describe('waitThroughOutages', () => {
  it('waits through UNAVAILABLE and DEADLINE_EXCEEDED until the result comes', async () => {
    const failures = [grpcError(14), grpcError(4), grpcError(14)];
    let calls = 0;
    const result = await waitThroughOutages(() => {
      calls++;
      const failure = failures.shift();
      return failure ? Promise.reject(failure) : Promise.resolve('done');
    });
    expect({ result, calls }).toEqual({ result: 'done', calls: 4 });
  });

  it('gives up at once on any other error, and after its patience on transient ones', async () => {
    const notFound = grpcError(5);
    let calls = 0;
    await expect(waitThroughOutages(() => (calls++, Promise.reject(notFound)))).rejects.toBe(notFound);
    expect(calls).toBe(1);
    const plain = new Error('workflow failed');
    await expect(waitThroughOutages(() => Promise.reject(plain))).rejects.toBe(plain);
    const unavailable = grpcError(14);
    calls = 0;
    await expect(waitThroughOutages(() => (calls++, Promise.reject(unavailable)), 600)).rejects.toBe(unavailable);
    expect(calls).toBeGreaterThan(1);
  });
});
