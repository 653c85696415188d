/**
 * A value built on its first use and kept. For module-level zod schemas that workflow code imports but
 * most workflows never use: the SDK evaluates each module once per cached workflow, so a schema built at
 * module load costs every waiting job its memory (bench/results/engine-memory.md).
 */
export function once<T>(build: () => T): () => T {
  let built: { value: T } | undefined;
  return () => (built ??= { value: build() }).value;
}
