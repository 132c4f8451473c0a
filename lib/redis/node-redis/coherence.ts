import { RedisError } from '../../errors.ts'
import { retryStrategy } from '../client.ts'
import { busMessage } from '../bus-message.ts'
import { slotOf } from '../slot.ts'
import { announced, INVALIDATE, invalidated, isRefusal, CoherenceState, type CoherenceHandlers, type CoherenceMode, type RedisCoherence } from '../coherence-types.ts'
import type { NodeClient } from './connection.ts'
import type { NodeRedisStore } from './store.ts'
import type { NodeRedisClient } from './shape.ts'

/**
 * Coherence over node-redis (see `coherence.ts` for what each mode means):
 *
 * - `'tracking'` on a RESP3 client, and on a cluster: the command connections themselves
 *   track (node-redis's `emitInvalidate` turns `CLIENT TRACKING on` in each connection's
 *   handshake, so a reconnection is tracked before it is ready) and Redis pushes each
 *   invalidation on them; on a cluster, every node's connection, as the cluster makes them.
 * - `'tracking'` on a RESP2 client: a subscriber of its own on `__redis__:invalidate`, and
 *   the command connection runs `CLIENT TRACKING on REDIRECT <its id>` on each
 *   connection. A subscriber that drops is replaced, not reconnected (its new id must be
 *   known before it subscribes). A refusal falls back to the bus, with a `warning`; so
 *   does a refusal of the RESP3 handshake's `CLIENT TRACKING` (the store's connections
 *   then reconnect without it, see `connection.ts`).
 * - `'bus'` (and `'off'`): a subscriber on `<prefix>:!bus`; node-redis subscribes it again
 *   after a reconnection. On a cluster, at the master that owns the channel's slot (where
 *   the announcements are published), and it follows the slot: a subscriber that drops is
 *   replaced, not reconnected (its master may be gone, failed over), and one whose master
 *   no longer owns the slot (node-redis learned of a move) is replaced at the new owner;
 *   that is checked when the cluster's nodes change and at each announcement.
 *
 * A connection dropped while it tracked, or a subscriber dropped while subscribed: `onFlush`.
 */

/** A subscriber connection, its CLIENT ID once subscribed, and on a cluster the master it is at. */
interface Subscriber {
  client: NodeClient
  id: number | undefined
  at?: string
}

/** A connection whose invalidations are pushed to it, and where it stands. */
interface Pushing {
  state: 'connecting' | 'tracked' | 'down'
}

const nodeEvents = (x: unknown): NodeJS.EventEmitter => x as NodeJS.EventEmitter

export class NodeRedisCoherence extends CoherenceState implements RedisCoherence {
  private readonly store: NodeRedisStore
  private readonly template: NodeRedisClient
  private readonly channel: string
  /** Command connections that track by RESP3 pushes (see {@link Pushing}). */
  private readonly pushing = new Map<NodeClient, Pushing>()
  /** The subscriber (RESP2 redirect, or the bus), its CLIENT ID once subscribed. */
  private subscriber: Subscriber | undefined
  /** The command connection's tracking is redirected to the subscriber now (RESP2). */
  private redirected = false

  constructor(options: { template: NodeRedisClient; store: NodeRedisStore; prefix: string; mode: CoherenceMode; handlers: CoherenceHandlers }) {
    super(options.mode, options.handlers)
    this.store = options.store
    this.template = options.template
    this.channel = `${options.prefix}:!bus`
    // A refusal in the handshake (an ACL user without `+client|tracking`): the bus it is.
    this.store.onTrackingRefused = (error) => this.fallBack(error)
    if (this.current === 'tracking' && this.store.pushes) this.followPushes()
    else if (this.current === 'tracking') this.followRedirect()
    else this.whenConnected(() => this.subscribe())
    const cluster = this.store.cluster
    if (cluster !== undefined) for (const event of ['node-connect', 'node-disconnect']) nodeEvents(cluster).on(event, this.followSlot)
  }

  get settled(): boolean {
    if (this.current === 'off') return true
    if (this.current === 'bus') return this.subscriber?.id !== undefined
    if (this.store.pushes) {
      for (const pushing of this.pushing.values()) if (pushing.state === 'connecting') return false
      return true
    }
    return this.redirected || !this.store.client.isReady
  }

  get listening(): boolean {
    if (this.current === 'off') return true
    if (this.current === 'bus') return this.subscriber?.id !== undefined
    if (!this.store.pushes) return this.redirected
    if (this.pushing.size === 0) return false
    for (const pushing of this.pushing.values()) if (pushing.state !== 'tracked') return false
    return true
  }

  async announce(keys: string[]): Promise<void> {
    if (this.current === 'tracking') return
    await this.store.publish(this.channel, busMessage(this.origin, keys))
    this.followSlot()
  }

  close(): void {
    this.closed = true
    const subscriber = this.subscriber
    this.subscriber = undefined
    if (subscriber?.client.isOpen === true) subscriber.client.destroy()
    for (const client of this.pushing.keys()) nodeEvents(client).removeListener('invalidate', this.onInvalidate)
    for (const event of ['node-connect', 'node-disconnect']) if (this.store.cluster !== undefined) nodeEvents(this.store.cluster).removeListener(event, this.followSlot)
    this.pushing.clear()
  }

  // ── RESP3 pushes ─────────────────────────────────────────────────────────

  /** Follows the command connection, or every node connection of the cluster as it makes them. */
  private followPushes(): void {
    const cluster = this.store.cluster
    if (cluster === undefined) {
      this.push(this.store.client as NodeClient)
      return
    }
    const adopt = (): void => {
      for (const node of [...cluster.masters, ...cluster.replicas]) if (node.client !== undefined) this.push(node.client as NodeClient)
    }
    for (const event of ['node-connect', 'node-ready', 'node-disconnect', 'node-reconnecting', 'node-error']) nodeEvents(cluster).on(event, adopt)
  }

  private push(client: NodeClient): void {
    if (this.pushing.has(client) || this.closed) return
    const pushing: Pushing = { state: client.isReady ? 'tracked' : 'connecting' }
    this.pushing.set(client, pushing)
    const events = nodeEvents(client)
    events.on('invalidate', this.onInvalidate)
    events.on('connect', () => {
      pushing.state = 'connecting'
      this.handlers.onUnsettled()
    })
    events.on('ready', () => {
      pushing.state = 'tracked'
      this.handlers.onUnsettled()
    })
    const lost = (): void => {
      const was = pushing.state === 'tracked'
      pushing.state = 'down'
      if (this.closed || !was) return
      this.handlers.onUnsettled()
      this.handlers.onFlush('command connection lost')
    }
    for (const event of ['error', 'reconnecting', 'end']) events.on(event, lost)
  }

  private readonly onInvalidate = (key: Buffer | string | null): void => {
    if (!this.closed) this.heard += invalidated(this.handlers, key === null ? null : [key])
  }

  // ── RESP2: tracking redirected to a subscriber ───────────────────────────

  private followRedirect(): void {
    const events = nodeEvents(this.store.client)
    events.on('connect', () => {
      this.redirected = false
      this.handlers.onUnsettled()
    })
    events.on('ready', () => void this.redirect())
    const lost = (): void => {
      const was = this.redirected
      this.redirected = false
      if (this.closed || !was) return
      this.handlers.onUnsettled()
      this.handlers.onFlush('command connection lost')
    }
    for (const event of ['error', 'reconnecting', 'end']) events.on(event, lost)
    void this.subscribe()
  }

  /** Turns tracking on for the command connection, redirected to the subscriber. */
  private async redirect(): Promise<void> {
    const id = this.subscriber?.id
    const client = this.store.client as NodeClient
    if (id === undefined || !client.isReady || this.current !== 'tracking' || this.closed) return
    try {
      await client.sendCommand(['CLIENT', 'TRACKING', 'off'])
      await client.sendCommand(['CLIENT', 'TRACKING', 'on', 'REDIRECT', String(id)])
      if (this.subscriber?.id === id && client.isReady) this.redirected = true
      this.handlers.onUnsettled()
    } catch (error) {
      this.trackingFailed(error)
    }
  }

  protected listenToBus(): void {
    this.redirected = false
    this.replaceSubscriber()
  }

  // ── Subscribers ──────────────────────────────────────────────────────────

  /** Runs `then` once the command connection (a cluster: its slots) is up. */
  private whenConnected(then: () => void): void {
    if (this.store.client.isReady) then()
    else nodeEvents(this.store.client).once(this.store.cluster === undefined ? 'ready' : 'connect', then)
  }

  /** The client a subscriber is duplicated from: the app's, or on a cluster the bus channel's master (and its address). */
  private async subscriberTemplate(): Promise<{ template: NodeClient; at?: string }> {
    const cluster = this.store.cluster
    if (cluster === undefined) return { template: this.template as unknown as NodeClient }
    const master = cluster.getSlotMaster(slotOf(this.channel))
    return { template: (await cluster.nodeClient(master)) as NodeClient, at: master.address }
  }

  /** On a cluster: a bus subscriber at a master that no longer owns the channel's slot moves to the one that does. */
  private readonly followSlot = (): void => {
    const subscriber = this.subscriber
    const cluster = this.store.cluster
    if (this.current !== 'bus' || subscriber?.at === undefined || cluster === undefined || this.closed) return
    if (cluster.getSlotMaster(slotOf(this.channel))?.address === subscriber.at) return
    this.replaceSubscriber()
    this.handlers.onUnsettled()
    if (subscriber.id !== undefined) this.handlers.onFlush('subscriber moved')
  }

  /**
   * Opens a subscriber: for tracking (RESP2), its CLIENT ID first, never reconnected
   * (replaced); for the bus, reconnected and subscribed again by node-redis, but on a
   * cluster replaced (at the slot's master then).
   */
  private async subscribe(attempt = 1): Promise<void> {
    if (this.closed) return
    const tracking = this.current === 'tracking'
    const replaced = tracking || this.store.cluster !== undefined
    const found = await this.subscriberTemplate().catch(() => undefined)
    if (found === undefined) return this.retry(attempt)
    const { template, at } = found
    const socket = { ...(template.options?.socket as object | undefined), reconnectStrategy: replaced ? false : (n: number) => retryStrategy(n + 1) }
    const overrides: object = { RESP: 2, socket, emitInvalidate: false, clientSideCache: undefined, maintNotifications: 'disabled' }
    const client = template.duplicate(overrides) as unknown as NodeClient
    const subscriber: Subscriber = { client, id: undefined, at }
    this.subscriber = subscriber
    this.watchSubscriber(subscriber, replaced)
    try {
      await client.connect()
      const id = Number(await client.sendCommand(['CLIENT', 'ID']))
      await client.subscribe(tracking ? INVALIDATE : this.channel, (message: Buffer | Buffer[] | null, channel: Buffer) => this.onMessage(String(channel), message), true)
      if (this.subscriber !== subscriber) return
      subscriber.id = id
      this.handlers.onUnsettled()
      // One that reconnects is subscribed again by node-redis before it is ready (not before the first subscription).
      if (!replaced) nodeEvents(client).on('ready', () => this.subscribed(subscriber))
      if (tracking) await this.redirect()
    } catch (error) {
      if (this.closed || this.subscriber !== subscriber) return
      if (tracking && isRefusal(error)) return this.fallBack(error)
      this.handlers.onError(new RedisError('redis subscriber: set-up failed', { cause: error }))
      if (replaced) this.replaceSubscriber(attempt + 1)
    }
  }

  /** Follows a subscriber's connection; one that is `replaced` (never reconnected) is replaced when it drops. */
  private watchSubscriber(subscriber: Subscriber, replaced: boolean): void {
    const events = nodeEvents(subscriber.client)
    events.on('error', (error: Error) => {
      if (!this.closed && this.subscriber === subscriber) this.handlers.onError(new RedisError(`redis subscriber: ${error.message}`, { cause: error }))
    })
    const lost = (): void => {
      const was = subscriber.id !== undefined
      subscriber.id = undefined
      if (this.closed || this.subscriber !== subscriber) return
      this.redirected = false
      this.handlers.onUnsettled()
      if (was) this.handlers.onFlush('subscriber connection lost')
      if (replaced) this.replaceSubscriber()
    }
    // `terminated`: a subscriber that never reconnects lost its connection.
    for (const event of ['reconnecting', 'end', 'terminated']) events.on(event, lost)
  }

  private subscribed(subscriber: Subscriber): void {
    if (subscriber.id !== undefined || this.subscriber !== subscriber) return
    subscriber.id = 0
    this.handlers.onUnsettled()
  }

  /** Closes the subscriber and opens another, after memoredis's reconnect pause. */
  private replaceSubscriber(attempt = 1): void {
    const old = this.subscriber
    this.subscriber = undefined
    if (old?.client.isOpen === true) old.client.destroy()
    this.retry(attempt)
  }

  private retry(attempt: number): void {
    if (!this.closed) setTimeout(() => void this.subscribe(attempt), retryStrategy(attempt)).unref()
  }

  private onMessage(channel: string, message: Buffer | Buffer[] | null): void {
    if (this.closed) return
    if (channel === INVALIDATE) {
      this.heard += invalidated(this.handlers, message === null || Array.isArray(message) ? message : [message])
      return
    }
    if (channel === this.channel && Buffer.isBuffer(message)) this.heard += announced(this.handlers, message, this.origin)
  }
}
