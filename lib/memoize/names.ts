/**
 * The names of live memoized functions, so that two live functions never share one
 * name (and so one set of keys) in a cache. An entry holds its owner weakly and goes
 * away after the owner is garbage collected: a `FinalizationRegistry` deletes it, and,
 * since finalizers run late or not at all, claiming names also sweeps dead entries from
 * time to time (amortized O(1) per claim). Code that builds memoized functions per
 * request or per tenant, with distinct names, therefore does not grow the registry.
 */

/** Dead entries are swept when the registry reaches this many entries, and then twice its live size. */
const FIRST_SWEEP = 1024

/** What the finalizer gets when an owner is collected: its entry, by id and by the very reference stored. */
interface Held {
  id: string
  ref: WeakRef<object>
}

export class NameRegistry {
  private readonly entries = new Map<string, WeakRef<object>>()
  private readonly finalizer = new FinalizationRegistry<Held>(({ id, ref }) => {
    // Only if the entry still points at the dead owner: the name may have a new owner.
    if (this.entries.get(id) === ref) this.entries.delete(id)
  })
  private sweepAt = FIRST_SWEEP

  /**
   * Claims `id` for `owner`: true when the name was free (never claimed, or its owner
   * was collected) or is already `owner`'s; false while another live owner holds it.
   */
  claim(id: string, owner: object): boolean {
    const current = this.entries.get(id)
    if (current !== undefined) {
      const holder = current.deref()
      if (holder === owner) return true
      if (holder !== undefined) return false
      this.finalizer.unregister(current)
    }
    const ref = new WeakRef(owner)
    this.entries.set(id, ref)
    this.finalizer.register(owner, { id, ref }, ref)
    if (this.entries.size >= this.sweepAt) this.sweep()
    return true
  }

  /** The number of entries, dead owners not yet removed included. */
  get size(): number {
    return this.entries.size
  }

  /** Drops the entries whose owner was collected; the next sweep comes when the registry has doubled. */
  private sweep(): void {
    for (const [id, ref] of this.entries) {
      if (ref.deref() === undefined) {
        this.entries.delete(id)
        this.finalizer.unregister(ref)
      }
    }
    this.sweepAt = Math.max(FIRST_SWEEP, 2 * this.entries.size)
  }
}
