/**
 * Plain data that many jobs hold alike — a job type's definition snapshot and the model catalogue — kept
 * once per worker thread instead of once per cached workflow. The workflows of a worker thread share one
 * V8 context (the SDK's `reuseV8Context`, its default), so this module's maps are shared by every
 * workflow the thread caches. Entries are keyed by their content (a definition's sha256 hash and scope, the
 * catalogue's JSON) and deep-frozen, so a job reads the same values whether its copy came from here or
 * from its own history, and no job can change what another reads: replay is unaffected.
 */
const MAX_ENTRIES = 128;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** A bounded map of frozen shared values; the least recently used entry goes first. */
class Interned<T> {
  private readonly entries = new Map<string, T>();

  of(key: string, value: T): T {
    const known = this.entries.get(key);
    if (known !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, known);
      return known;
    }
    this.entries.set(key, deepFreeze(value));
    if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }
}

const definitions = new Interned<unknown>();
const catalogues = new Interned<unknown>();

/** The worker thread's one copy of a definition snapshot with this hash and scope (a recipe-scoped snapshot keeps its definition's hash). */
export function internDefinition<T extends { hash: string; scope?: string }>(definition: T): T {
  return definitions.of(`${definition.hash} ${definition.scope ?? 'all'}`, definition) as T;
}

/** The worker thread's one copy of a model catalogue with this content. */
export function internCatalogue<T>(catalogue: T): T {
  return catalogues.of(JSON.stringify(catalogue), catalogue) as T;
}
