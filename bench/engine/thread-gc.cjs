/**
 * Loaded with --require into the benchmark's worker process, so it runs in every thread of it: the main
 * thread and the SDK's workflow threads, where each cached workflow's state lives. A workflow thread
 * answers a `collect` on the broadcast channel with a full GC of its own heap (a GC of the main thread
 * does not reach it), so the RSS the memory section reads holds live objects only, in every thread.
 * worker-process.ts (settledMemory) sends the requests and counts the answers.
 */
'use strict';
const { isMainThread, threadId } = require('node:worker_threads');
const v8 = require('node:v8');

/** This thread's V8 heap after the collection: what its pages hold in RAM, what is live, and its young generation. */
function heapOfThisThread() {
  const heap = v8.getHeapStatistics();
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  return {
    physicalBytes: heap.total_physical_size,
    usedBytes: heap.used_heap_size,
    mallocedBytes: heap.malloced_memory,
    youngPhysicalBytes: young ? young.physical_space_size : 0,
  };
}

if (!isMainThread) {
  const requests = new BroadcastChannel('conveyor-bench-thread-gc');
  requests.unref();
  requests.onmessage = (event) => {
    const collect = globalThis.gc;
    if (typeof collect === 'function') collect();
    const answers = new BroadcastChannel('conveyor-bench-thread-gc-done');
    answers.postMessage({ requestId: event.data && event.data.requestId, threadId, collected: typeof collect === 'function', heap: heapOfThisThread() });
    answers.close();
  };
}

module.exports = { heapOfThisThread };
