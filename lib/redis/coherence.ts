import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { RedisError } from '../errors.ts'
import { slotOf } from './slot.ts'
import { busMessage } from './bus-message.ts'
import { connect, isCluster, nodeConnection, retryStrategy, type RedisSource } from './client.ts'
import type { RedisTier } from './tier.ts'
import { announced, INVALIDATE, invalidated, isRefusal, CoherenceState, type CoherenceHandlers, type CoherenceMode, type RedisCoherence } from './coherence-types.ts'

/**
 * Keeps every process's L1 true and wakes lock waiters, over subscriber connections of
 * its own (RESP2: ioredis 6 drops RESP3 `invalidate` pushes).
 *
 * - `'tracking'`: Redis server-assisted client-side caching in its default mode. A
 *   subscriber listens on `__redis__:invalidate`, and the command connection to the same
 *   node runs `CLIENT TRACKING on REDIRECT <subscriber id>`: Redis remembers every key
 *   that connection reads (inside scripts too) and tells this process when one of them
 *   changes — a write by anyone, an expiry, an eviction from the server's tracking
 *   table — once, then forgets it until it is read again. So a process hears only of
 *   keys it holds (in L1, in a read or a wait under way), never of the rest of the
 *   fleet's traffic. No NOLOOP: with it, Redis 7 does not report keys it evicts from a
 *   full tracking table while serving this connection's own command, and an L1 copy would
 *   outlive its tracking. A process's own writes come back as one notice each (an echo,
 *   see `Watches`). Tracking is per node, so on a Cluster each node gets a subscriber,
 *   paired with the Cluster's own connection to it, and the pairs follow the topology as
 *   it changes. A server that refuses CLIENT TRACKING, or the `__redis__:invalidate`
 *   channel (an ACL user without it), makes this process fall back to the bus, with a
 *   `warning`.
 * - `'bus'` (and `'off'`, which only uses it to wake waiters): memoredis publishes the
 *   keys it writes on `<prefix>:!bus`, with this cache's origin id so that a process
 *   ignores its own messages. On a Cluster everyone subscribes and publishes on the
 *   master that owns the channel's slot: one hop, never the cluster bus (whose links
 *   were measured adding 40 ms and more to a message now and then).
 *
 * While any of this is not in place — a connection starting, tracking being turned on,
 * a subscriber reconnecting — the cache is not `settled`: reads and writes under way
 * must not fill L1 (`onUnsettled`), since a change could go unheard. When a subscriber
 * or a tracked connection drops, changes may have been missed: `onFlush`.
 */

/** Subscribers queue their set-up until connected and never resubscribe on their own. */
const LISTENER: RedisOptions = { protocol: 2, enableOfflineQueue: true, autoResubscribe: false, lazyConnect: false }

/** One subscriber connection to one node, and its CLIENT ID once subscribed. */
interface Listener {
  readonly address: string
  readonly redis: Redis
  id: number | undefined
}

/** A command connection: whether tracking is on, and how many times it connected. */
interface Followed {
  tracked: boolean
  connects: number
}

const addressOf = (node: Redis): string => `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`

export class Coherence extends CoherenceState implements RedisCoherence {
  private readonly tier: RedisTier
  private readonly cluster: Cluster | undefined
  private readonly channel: string
  private readonly slot: number
  /** By node address ('' for a single node). */
  private readonly listeners = new Map<string, Listener>()
  private readonly followed = new Map<Redis, Followed>()
  /** Undoes every listener put on command connections (see `attach`). */
  private readonly attached: (() => void)[] = []

  constructor(source: RedisSource, tier: RedisTier, prefix: string, mode: CoherenceMode, handlers: CoherenceHandlers) {
    super(mode, handlers)
    this.tier = tier
    this.channel = `${prefix}:!bus`
    this.slot = slotOf(this.channel)
    if (!isCluster(tier.client)) {
      this.follow(tier.client)
      this.listen('', connect(source, LISTENER) as Redis)
      return
    }
    this.cluster = tier.client
    this.attach(this.cluster, '+node', (node: Redis) => this.follow(node))
    this.attach(this.cluster, 'refresh', () => this.syncNodes())
    this.attach(this.cluster, 'ready', () => this.syncNodes())
  }

  /** Listens on a connection memoredis does not close with the subscribers; `close()` detaches it. */
  private attach<A extends unknown[]>(emitter: Redis | Cluster, event: string, listener: (...args: A) => void): void {
    const on = emitter as unknown as NodeJS.EventEmitter
    on.on(event, listener as (...args: unknown[]) => void)
    this.attached.push(() => on.off(event, listener as (...args: unknown[]) => void))
  }

  /** True when every change by another process will be heard: L1 may be filled. */
  get settled(): boolean {
    if (this.current === 'off') return true
    if (this.current === 'bus') {
      for (const listener of this.listeners.values()) if (listener.id === undefined) return false
      return this.listeners.size > 0
    }
    for (const [node, state] of this.followed) {
      if (!state.tracked && (node.status === 'ready' || node.status === 'connect')) return false
    }
    return true
  }

  /**
   * True while this process hears every change now: every subscriber subscribed and, for
   * tracking, every command connection in use tracked (`cache.health()` reports
   * `'degraded'` otherwise). Always true for `'off'`.
   */
  get listening(): boolean {
    if (this.current === 'off') return true
    if (this.listeners.size === 0) return false
    for (const listener of this.listeners.values()) if (listener.id === undefined) return false
    if (this.current === 'bus') return true
    for (const [node, state] of this.followed) if (!state.tracked && node.status !== 'wait' && node.status !== 'end') return false
    return true
  }

  /** Tells other processes that `keys` changed (bus and off modes; tracking needs nothing). */
  async announce(keys: string[]): Promise<void> {
    if (this.current === 'tracking') return
    const message = busMessage(this.origin, keys)
    const node = this.busNode()
    if (node === undefined) await this.tier.publish(this.channel, message)
    else await this.tier.run('PUBLISH', () => node.publish(this.channel, message))
  }

  close(): void {
    this.closed = true
    for (const detach of this.attached.splice(0)) detach()
    for (const listener of this.listeners.values()) listener.redis.disconnect()
    this.listeners.clear()
    this.followed.clear()
  }

  // ── Command connections ──────────────────────────────────────────────────

  /** Follows a command connection: tracked once ready, untracked (and a flush) when it drops. */
  private follow(node: Redis): void {
    if (this.followed.has(node)) return
    const state: Followed = { tracked: false, connects: 0 }
    this.followed.set(node, state)
    this.attach(node, 'connect', () => {
      state.connects++
      state.tracked = false
      this.handlers.onUnsettled()
    })
    this.attach(node, 'ready', () => this.trackNode(node))
    this.attach(node, 'close', () => {
      const was = state.tracked
      state.tracked = false
      if (this.closed) return
      this.handlers.onUnsettled()
      // Its tracking is gone with it: what others wrote since is unknown.
      if (was && this.current === 'tracking') this.handlers.onFlush('command connection lost')
    })
    // A Cluster drops a node's connection for good on `end` (and makes a new one if needed).
    if (this.cluster !== undefined) node.once('end', () => this.followed.delete(node))
    if (node.status === 'ready') this.trackNode(node)
  }

  private trackNode(node: Redis): void {
    if (this.closed || this.current !== 'tracking') return
    const listener = this.listeners.get(this.cluster === undefined ? '' : addressOf(node))
    if (listener === undefined) this.syncNodes()
    else void this.track(node, listener)
  }

  /** Turns tracking on for `node`, redirected to `listener`'s connection on the same server. */
  private async track(node: Redis, listener: Listener): Promise<void> {
    const id = listener.id
    const state = this.followed.get(node)
    if (id === undefined || state === undefined || node.status !== 'ready' || this.current !== 'tracking') return
    const connects = state.connects
    try {
      await node.call('CLIENT', 'TRACKING', 'off')
      await node.call('CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id))
      // Only if both connections are still the ones it was turned on for.
      if (state.connects === connects && listener.id === id && node.status === 'ready') state.tracked = true
      this.handlers.onUnsettled()
    } catch (error) {
      this.trackingFailed(error)
    }
  }

  protected listenToBus(): void {
    // Subscribed to tracking's channel, not yet to the bus's: not settled until set up again.
    for (const listener of this.listeners.values()) {
      listener.id = undefined
      listener.redis.disconnect(true)
    }
    this.syncNodes()
  }

  // ── Subscribers ──────────────────────────────────────────────────────────

  private listen(address: string, redis: Redis): void {
    const listener: Listener = { address, redis, id: undefined }
    this.listeners.set(address, listener)
    redis.on('error', (error: Error) => {
      if (!this.closed) this.handlers.onError(new RedisError(`redis subscriber: ${error.message}`, { cause: error }))
    })
    redis.on('ready', () => void this.setUp(listener))
    redis.on('close', () => {
      const was = listener.id !== undefined
      listener.id = undefined
      if (this.closed || this.listeners.get(address) !== listener) return
      for (const node of this.commandConnections(address)) {
        const state = this.followed.get(node)
        if (state !== undefined) state.tracked = false
      }
      this.handlers.onUnsettled()
      if (was) this.handlers.onFlush('subscriber connection lost')
    })
    redis.on('messageBuffer', (channel: Buffer, message: Buffer | Buffer[] | null) => this.onMessage(channel.toString(), message))
  }

  private async setUp(listener: Listener): Promise<void> {
    const { redis } = listener
    // A set-up cut off by its connection's end (a fall-back to the bus drops every
    // subscriber) is no error: the next `ready` sets it up again, in the mode of then.
    const mode = this.current
    try {
      const id = Number(await redis.client('ID'))
      await redis.subscribe(this.current === 'tracking' ? INVALIDATE : this.channel)
      listener.id = id
      this.handlers.onUnsettled()
      if (this.current === 'tracking') for (const node of this.commandConnections(listener.address)) await this.track(node, listener)
    } catch (error) {
      if (this.closed || this.current !== mode || redis.status !== 'ready') return
      // A user without `&__redis__:invalidate` (the bus-only ACL) is refused the tracking channel.
      if (this.current === 'tracking' && isRefusal(error)) this.fallBack(error)
      else this.handlers.onError(new RedisError('redis subscriber: set-up failed', { cause: error }))
    }
  }

  /** The command connections to `address` (the single node's, or the Cluster's to that node). */
  private commandConnections(address: string): Redis[] {
    if (this.cluster === undefined) return [this.tier.client as Redis]
    return this.cluster.nodes('all').filter((node) => addressOf(node) === address)
  }

  // ── Cluster topology ─────────────────────────────────────────────────────

  /** The Cluster's connection to the master that owns the bus channel's slot. */
  private busNode(): Redis | undefined {
    const owner = this.cluster?.slots[this.slot]?.[0]
    return owner === undefined ? undefined : this.cluster?.nodes('master').find((node) => addressOf(node) === owner)
  }

  /**
   * Matches subscribers to the Cluster: one per node for tracking, one on the bus
   * channel's master for the bus. Subscribers no longer wanted are closed.
   */
  private syncNodes(): void {
    const cluster = this.cluster
    if (cluster === undefined || this.closed) return
    const nodes = cluster.nodes('all')
    for (const node of nodes) this.follow(node)
    // A Cluster connects to a node only for its first command; until then nothing written
    // there (a stamp another process sets) would be heard. Every master is tracked at once.
    if (this.current === 'tracking' && cluster.status === 'ready') {
      for (const node of cluster.nodes('master')) if (node.status === 'wait') node.connect().catch(() => undefined)
    }
    const owner = cluster.slots[this.slot]?.[0]
    // Tracking: every master, and replicas once this process reads from them (scaleReads).
    const tracked = nodes.filter((n) => n.options.readOnly !== true || n.status === 'ready' || this.listeners.has(addressOf(n)))
    const wanted = new Set(this.current === 'tracking' ? tracked.map(addressOf) : owner === undefined ? [] : [owner])
    for (const [address, listener] of this.listeners) {
      if (wanted.has(address)) continue
      this.listeners.delete(address)
      listener.redis.disconnect()
      if (listener.id !== undefined) this.handlers.onFlush('subscriber moved')
    }
    const options = cluster.options.redisOptions ?? {}
    for (const address of wanted) {
      if (this.listeners.has(address)) continue
      const at = address.lastIndexOf(':')
      const node = { host: address.slice(0, at), port: Number(address.slice(at + 1)) }
      this.listen(address, nodeConnection(cluster, { ...options, ...node, ...LISTENER, retryStrategy }))
    }
  }

  private onMessage(channel: string, message: Buffer | Buffer[] | null): void {
    if (this.closed) return
    if (channel === INVALIDATE) {
      // A null message means the whole database was flushed.
      this.heard += invalidated(this.handlers, message === null || Array.isArray(message) ? message : [message])
      return
    }
    if (channel !== this.channel || message === null || Array.isArray(message)) return
    this.heard += announced(this.handlers, message, this.origin)
  }
}
