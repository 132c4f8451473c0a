import type { RedisCounts, RoundTripObserver } from '../redis/breaker.ts'
import type { Fill, LockRead, ReadOrLock, RedisStore, Renew, Stamp } from '../redis/store.ts'

/**
 * The round trips of a batch: a {@link RedisStore} over another whose reads
 * (`get`), reads of a miss (`readOrLock`) and fills (`fill`) asked for in one tick go out
 * together, as one `getMany`, one `readOrLockMany` and one `fillMany` (per hash slot on a
 * Cluster). Every other command goes straight through. The batch read path
 * (`batch.ts`) runs the single-key machinery per key over it, so that a batch of keys
 * takes each step (the GET, the lock, the fill) in one round trip for all of them.
 */

/** Runs `flush` once every job of this turn of the microtask queue is queued (DataLoader's schedule). */
export function afterThisTick(flush: () => void): void {
  void Promise.resolve().then(() => process.nextTick(flush))
}

/** Inputs asked for in one tick, sent together by `send`; each caller gets its own output. */
export class Coalescer<In, Out> {
  private pending: { input: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = []
  private readonly send: (inputs: In[]) => Promise<Out[]>

  constructor(send: (inputs: In[]) => Promise<Out[]>) {
    this.send = send
  }

  add(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      if (this.pending.length === 0) afterThisTick(() => this.flush())
      this.pending.push({ input, resolve, reject })
    })
  }

  private flush(): void {
    const batch = this.pending
    this.pending = []
    this.send(batch.map((job) => job.input)).then(
      (outs) => batch.forEach((job, i) => job.resolve(outs[i] as Out)),
      (error: unknown) => batch.forEach((job) => job.reject(error)),
    )
  }
}

/** `store`, with the GETs, read-or-locks and fills of one tick sent together (see the module's comment). */
export class CoalescingStore implements RedisStore {
  private readonly store: RedisStore
  private readonly gets: Coalescer<string, Buffer | null>
  private readonly locks: Coalescer<ReadOrLock, LockRead>
  private readonly fills: Coalescer<Fill, boolean>

  constructor(store: RedisStore) {
    this.store = store
    this.gets = new Coalescer((keys) => store.getMany(keys))
    this.locks = new Coalescer((reads) => store.readOrLockMany(reads))
    this.fills = new Coalescer((fills) => store.fillMany(fills))
  }

  get(key: string): Promise<Buffer | null> {
    return this.gets.add(key)
  }

  readOrLock(read: ReadOrLock): Promise<LockRead> {
    return this.locks.add(read)
  }

  fill(fill: Fill): Promise<boolean> {
    return this.fills.add(fill)
  }

  // Straight through.
  whenStarted(): Promise<void> | undefined {
    return this.store.whenStarted()
  }
  get available(): boolean {
    return this.store.available
  }
  get circuit(): RedisStore['circuit'] {
    return this.store.circuit
  }
  get counts(): RedisCounts {
    return this.store.counts
  }
  get onRoundTrip(): RoundTripObserver | undefined {
    return this.store.onRoundTrip
  }
  set onRoundTrip(observer: RoundTripObserver | undefined) {
    this.store.onRoundTrip = observer
  }
  getMany(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.store.getMany(keys)
  }
  readOrLockMany(reads: readonly ReadOrLock[]): Promise<LockRead[]> {
    return this.store.readOrLockMany(reads)
  }
  fillMany(fills: readonly Fill[]): Promise<boolean[]> {
    return this.store.fillMany(fills)
  }
  setUnlessLocked(write: Parameters<RedisStore['setUnlessLocked']>[0]): Promise<boolean> {
    return this.store.setUnlessLocked(write)
  }
  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    return this.store.set(key, value, ttlMs)
  }
  del(...keys: string[]): Promise<void> {
    return this.store.del(...keys)
  }
  releaseLock(key: string, token: string): Promise<void> {
    return this.store.releaseLock(key, token)
  }
  extendLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.store.extendLock(key, token, ttlMs)
  }
  renew(renew: Renew): Promise<boolean> {
    return this.store.renew(renew)
  }
  expire(write: Parameters<RedisStore['expire']>[0]): Promise<boolean> {
    return this.store.expire(write)
  }
  stampTag(key: string, floorKey: string, soft: boolean): Promise<Stamp> {
    return this.store.stampTag(key, floorKey, soft)
  }
  getStamp(key: string): Promise<Stamp | undefined> {
    return this.store.getStamp(key)
  }
  stampOrFloor(key: string, floorKey: string): Promise<Stamp> {
    return this.store.stampOrFloor(key, floorKey)
  }
  setFloors(floorKeys: readonly string[]): Promise<number[]> {
    return this.store.setFloors(floorKeys)
  }
  waitForReplicas(keys: readonly string[], replicas: number, timeoutMs: number): Promise<number> {
    return this.store.waitForReplicas(keys, replicas, timeoutMs)
  }
  time(): Promise<number> {
    return this.store.time()
  }
  probe(): Promise<number | undefined> {
    return this.store.probe()
  }
  memoryPolicies(): Promise<{ maxmemory: number; policy: string }[]> {
    return this.store.memoryPolicies()
  }
  publish(channel: string, message: string): Promise<void> {
    return this.store.publish(channel, message)
  }
  close(): Promise<void> {
    return this.store.close()
  }
}
