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
  /** One watch, or several, per key: most keys have one at a time, and a Set each would be churn. */
  private readonly byKey = new Map<string, Watch | Watch[]>()

  /** Starts watching `key`; `dirty` starts true when a change could go unheard (coherence not settled). */
  watch(key: string, dirty: boolean): Watch {
    const watch = { dirty }
    const current = this.byKey.get(key)
    if (current === undefined) this.byKey.set(key, watch)
    else if (Array.isArray(current)) current.push(watch)
    else this.byKey.set(key, [current, watch])
    return watch
  }

  unwatch(key: string, watch: Watch): void {
    const current = this.byKey.get(key)
    if (current === watch) this.byKey.delete(key)
    else if (Array.isArray(current)) {
      const at = current.indexOf(watch)
      if (at !== -1) current.splice(at, 1)
      if (current.length === 0) this.byKey.delete(key)
    }
  }

  /** `key` changed: everything under way for it is dirty. */
  touch(key: string): void {
    const current = this.byKey.get(key)
    if (current === undefined) return
    if (Array.isArray(current)) for (const watch of current) watch.dirty = true
    else current.dirty = true
  }

  /** Everything under way is dirty. */
  dirtyAll(): void {
    for (const current of this.byKey.values()) {
      if (Array.isArray(current)) for (const watch of current) watch.dirty = true
      else current.dirty = true
    }
  }
}
