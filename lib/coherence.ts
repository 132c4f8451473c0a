import { randomBytes } from 'node:crypto'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { RedisError } from './errors.ts'
import { connect, type RedisTier } from './tiers/redis.ts'

/**
 * Keeps every process's L1 true and wakes lock waiters, over one subscriber connection
 * per cache.
 *
 * - `'tracking'`: Redis server-assisted client-side caching in broadcast mode. The
 *   subscriber (RESP2: ioredis 6 drops RESP3 `invalidate` pushes) subscribes to
 *   `__redis__:invalidate`; the command connection runs
 *   `CLIENT TRACKING on REDIRECT <subscriber id> BCAST PREFIX <prefix>: NOLOOP`, so
 *   this process hears of every write under the prefix by any other client — another
 *   process, `redis-cli`, an expiry — and not of its own.
 * - `'bus'` (and `'off'`, which only uses it to wake waiters): memoredis publishes
 *   the keys it writes on `<prefix>:!bus`, tagged with this cache's origin id so that
 *   a process ignores its own messages.
 *
 * Whenever either connection drops, invalidations may have been missed: the owner is
 * told to flush (`onFlush`), and again once tracking is back.
 */

export interface CoherenceHandlers {
  /** Keys another client changed or deleted. */
  onKeys(keys: string[]): void
  /** Everything may be stale: drop L1 and tag stamps, wake all waiters. */
  onFlush(reason: string): void
  onError(error: RedisError): void
}

export type CoherenceMode = 'tracking' | 'bus' | 'off'

export class Coherence {
  readonly mode: CoherenceMode
  private readonly sub: Redis | Cluster
  private readonly tier: RedisTier
  private readonly prefix: string
  private readonly channel: string
  private readonly origin = randomBytes(8).toString('hex')
  private readonly handlers: CoherenceHandlers
  private subscriberId: number | undefined
  private closed = false

  constructor(
    source: string | RedisOptions | Redis | Cluster,
    tier: RedisTier,
    prefix: string,
    mode: CoherenceMode,
    handlers: CoherenceHandlers,
  ) {
    this.mode = mode
    this.tier = tier
    this.prefix = prefix
    this.channel = `${prefix}:!bus`
    this.handlers = handlers
    // The subscriber queues its SUBSCRIBE until connected, and never resubscribes on its
    // own: each (re)connection is set up by `setUp` in order (CLIENT ID, then SUBSCRIBE).
    this.sub = connect(source, { protocol: 2, enableOfflineQueue: true, autoResubscribe: false })
    this.sub.on('error', (error: Error) => {
      if (!this.closed) handlers.onError(new RedisError(`redis subscriber: ${error.message}`, { cause: error }))
    })
    this.sub.on('ready', () => void this.setUp())
    this.sub.on('close', () => {
      if (this.closed) return
      this.subscriberId = undefined
      handlers.onFlush('subscriber connection lost')
    })
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer | Buffer[] | null) =>
      this.onMessage(channel.toString(), message),
    )
  }

  /** Called by the cache when its command connection is (re)established. */
  commandReady(): void {
    if (this.mode === 'tracking' && this.subscriberId !== undefined) void this.enableTracking(this.subscriberId)
  }

  /** Called by the cache when its command connection drops: tracking is gone with it. */
  commandLost(): void {
    if (this.mode === 'tracking') this.handlers.onFlush('command connection lost')
  }

  /** Tells other processes that `keys` changed (bus and off modes; tracking needs nothing). */
  async announce(keys: string[]): Promise<void> {
    if (this.mode === 'tracking') return
    await this.tier.publish(this.channel, JSON.stringify({ o: this.origin, k: keys }))
  }

  private async setUp(): Promise<void> {
    try {
      const sub = this.sub as Redis
      if (this.mode === 'tracking') {
        const id = Number(await sub.client('ID'))
        await sub.subscribe('__redis__:invalidate')
        this.subscriberId = id
        await this.enableTracking(id)
      } else {
        await sub.subscribe(this.channel)
        this.subscriberId = 0
      }
      // Anything written while we were not listening is unknown: start clean.
      this.handlers.onFlush('subscriber connected')
    } catch (error) {
      if (!this.closed) this.handlers.onError(new RedisError('redis subscriber: set-up failed', { cause: error }))
    }
  }

  private async enableTracking(subscriberId: number): Promise<void> {
    const client = this.tier.client as Redis
    if (client.status !== 'ready') return
    try {
      await client.call('CLIENT', 'TRACKING', 'off')
      await client.call(
        'CLIENT', 'TRACKING', 'on', 'REDIRECT', String(subscriberId), 'BCAST', 'PREFIX', `${this.prefix}:`, 'NOLOOP',
      )
      this.handlers.onFlush('tracking enabled')
    } catch (error) {
      this.handlers.onError(new RedisError('redis: CLIENT TRACKING failed', { cause: error }))
    }
  }

  private onMessage(channel: string, message: Buffer | Buffer[] | null): void {
    if (channel === '__redis__:invalidate') {
      // A null message means the whole database was flushed.
      if (message === null) this.handlers.onFlush('database flushed')
      else this.handlers.onKeys((Array.isArray(message) ? message : [message]).map(String))
      return
    }
    if (channel !== this.channel || message === null || Array.isArray(message)) return
    let parsed: unknown
    try {
      parsed = JSON.parse(message.toString())
    } catch {
      return
    }
    const { o, k } = parsed as { o?: unknown; k?: unknown }
    if (o === this.origin || !Array.isArray(k)) return
    this.handlers.onKeys(k.filter((key): key is string => typeof key === 'string'))
  }

  close(): void {
    this.closed = true
    this.sub.disconnect()
  }
}
