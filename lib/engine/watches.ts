/**
 * L2 reads, writes and computations under way, by key. A change of the key reported
 * before one of them lands (another process's write, a delete, a flush) marks it dirty,
 * and a dirty result must not go into L1: the notice that would have evicted it has
 * already come.
 *
 * Echoes: in tracking mode a write of this process comes back to it as exactly one
 * notice (the write scripts make sure Redis tracks the key for this connection at the
 * write), on the same subscriber connection as every later change of that key, and
 * before any of them. So a write's watch takes the first notice it hears as that echo
 * (or as a change made before the write, which the write replaced: harmless either way),
 * and an L1 copy stored before the echo arrived absorbs it in turn (`MemoryTier.hear`).
 * Nothing else absorbs notices: reads under way are made dirty by every one.
 */

/** One read, write or computation under way. */
export interface Watch {
  dirty: boolean
  /** Notices still to be taken for the echo of this process's own write (0 or 1), not a change. */
  echoes: number
}

/**
 * After a write watched with `expected` echoes (see above): undefined when its value must
 * stay out of L1, else how many echoes the L1 copy must still absorb. `reached`: Redis
 * took the write (a write that failed sends no echo, so a notice taken for one was a change).
 */
export function afterWrite(watch: Watch, expected: number, reached: boolean): number | undefined {
  if (watch.dirty) return undefined
  if (reached) return watch.echoes
  return watch.echoes === expected ? 0 : undefined
}

export class Watches {
  /** One watch, or several, per key: most keys have one at a time, and a Set each would be churn. */
  private readonly byKey = new Map<string, Watch | Watch[]>()

  /**
   * Starts watching `key`; `dirty` starts true when a change could go unheard (coherence
   * not settled); `echoes`: notices to take for this process's own write (default 0).
   */
  watch(key: string, dirty: boolean, echoes = 0): Watch {
    const watch = { dirty, echoes }
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

  /** A notice that `key` changed: a write's watch expecting its echo takes it; everything else under way is dirty. */
  hear(key: string): void {
    const current = this.byKey.get(key)
    if (current === undefined) return
    if (Array.isArray(current)) for (const watch of current) heard(watch)
    else heard(current)
  }

  /** This process changed `key`: everything under way for it is dirty. */
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

function heard(watch: Watch): void {
  if (watch.echoes > 0) watch.echoes--
  else watch.dirty = true
}
