/**
 * L2 reads, writes and computations under way, by key. A change of the key reported
 * before one of them lands (another process's write, a delete, a flush) marks it dirty,
 * and a dirty result must not go into L1: the notice that would have evicted it has
 * already come.
 */

/** One read, write or computation under way. */
export interface Watch {
  dirty: boolean
}

export class Watches {
  private readonly byKey = new Map<string, Set<Watch>>()

  /** Starts watching `key`; `dirty` starts true when a change could go unheard (coherence not settled). */
  watch(key: string, dirty: boolean): Watch {
    const watch = { dirty }
    let set = this.byKey.get(key)
    if (set === undefined) this.byKey.set(key, (set = new Set()))
    set.add(watch)
    return watch
  }

  unwatch(key: string, watch: Watch): void {
    const set = this.byKey.get(key)
    if (set === undefined) return
    set.delete(watch)
    if (set.size === 0) this.byKey.delete(key)
  }

  /** `key` changed: everything under way for it is dirty. */
  touch(key: string): void {
    const set = this.byKey.get(key)
    if (set !== undefined) for (const watch of set) watch.dirty = true
  }

  /** Everything under way is dirty. */
  dirtyAll(): void {
    for (const set of this.byKey.values()) for (const watch of set) watch.dirty = true
  }
}
