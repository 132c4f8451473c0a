import type { RedisClientType, RedisClusterType } from 'redis'
import { retryStrategy } from '../client.ts'
import type { RedisTierOptions } from '../breaker.ts'
import { ScriptStore } from '../script-store.ts'
import { isRefusal } from '../coherence-types.ts'
import { isNodeRedisCluster, type NodeRedisClient, type NodeRedisCluster } from './shape.ts'

/**
 * memoredis's own connection over node-redis: a duplicate of the app's client or cluster
 * (never the app's own, which memoredis neither connects nor closes), with the offline
 * queue off (a command cut off by a lost connection fails; it is never sent late on the
 * next one) and memoredis's reconnect pace; its events wired to the circuit breaker and
 * the start (`breaker.ts`, which every command goes through). node-redis writes the
 * commands of one tick together by itself. Nothing of node-redis is imported but its types.
 */

export type NodeClient = RedisClientType
export type NodeCluster = RedisClusterType
type Argument = string | Buffer

/**
 * Bulk replies as Buffers (RESP type `$`, 36 in node-redis's `RESP_TYPES`), not strings:
 * the duplicate's own command options, so that its commands are sent with no options of
 * their own. node-redis merges a command's options into its client's
 * (`{ ...defaults, ...options }`), and options with a key the defaults lack cost V8 a
 * slow path of about 3 µs per command. Nor through `withTypeMapping`: its proxy (an
 * object whose prototype is the client) made a 32-caller GET loop 1.3x to 1.5x one
 * through a client with the mapping in its options, in a process that also used a
 * plain client.
 */
const BUFFERS = { 36: Buffer }

/** The template's command options with bulk replies as Buffers. */
const buffersOver = (commandOptions: object | undefined): object => ({ ...commandOptions, typeMapping: BUFFERS })

/** How the command connection is opened. */
export interface NodeRedisOpenOptions extends RedisTierOptions {
  /** Coherence by client tracking: RESP3 connections push their invalidations (`emitInvalidate`). */
  tracking: boolean
}

/** The RESP version a node-redis client speaks (node-redis 6 defaults to 3). */
export function respOf(client: NodeRedisClient): 2 | 3 {
  const options = (client as NodeClient).options as { RESP?: number } | undefined
  return options?.RESP === 2 ? 2 : 3
}

/** A template's options, as far as memoredis reads them. */
interface TemplateOptions {
  socket?: object
  maintNotifications?: string
}

/**
 * memoredis's settings on a duplicate's connections, over the template's options. Redis
 * Enterprise maintenance notifications stay off unless the app asked for them
 * (`maintNotifications: 'enabled'`): node-redis hands every RESP3 push, each tracking
 * invalidation included, to their handler first, about 2.5 µs a push here (a cold miss
 * gets two); without them a connection moved by maintenance drops and reconnects, which
 * memoredis handles like every other lost connection.
 */
function own(template: TemplateOptions | undefined, push: boolean): Record<string, unknown> {
  return {
    disableOfflineQueue: true,
    maintNotifications: template?.maintNotifications === 'enabled' ? 'enabled' : 'disabled',
    socket: { ...template?.socket, reconnectStrategy: (retries: number) => retryStrategy(retries + 1) },
    ...(push ? { emitInvalidate: true } : {}),
  }
}

/** A client's or cluster's command options (node-redis keeps them as `_commandOptions`). */
const commandOptionsOf = (client: NodeClient | NodeCluster): object | undefined => (client as unknown as { _commandOptions?: object })._commandOptions

/** The command connection from the app's client or cluster: RESP3 pushes when it tracks on a cluster or a RESP3 client. */
function duplicateOf(template: NodeRedisClient | NodeRedisCluster, tracking: boolean): NodeClient | NodeCluster {
  if (isNodeRedisCluster(template)) {
    const cluster = template as unknown as NodeCluster
    const defaults = cluster._options.defaults ?? {}
    const overrides = {
      ...(tracking ? { RESP: 3 } : {}),
      defaults: { ...defaults, ...own(defaults as TemplateOptions, tracking) },
      commandOptions: buffersOver(commandOptionsOf(cluster)),
    }
    return cluster.duplicate(overrides as object) as NodeCluster
  }
  const client = template as unknown as NodeClient
  const overrides = { ...own(client.options as TemplateOptions | undefined, tracking && respOf(template) === 3), commandOptions: buffersOver(commandOptionsOf(client)) }
  return client.duplicate(overrides) as NodeClient
}

/** The server refused the handshake's `CLIENT TRACKING` (an ACL user without `+client|tracking`, a server without it). */
const refusesTracking = (error: Error): boolean => isRefusal(error) && /tracking/i.test(error.message)

/**
 * No `CLIENT TRACKING` in the connections' next handshakes: node-redis reads
 * `emitInvalidate` from a client's options at each (re)connection, and a cluster makes its
 * node clients (and the one it discovers the slots with) from its `defaults`.
 */
function stopTracking(client: NodeClient | NodeCluster, cluster: NodeCluster | undefined): void {
  const off = (options: object | undefined): void => {
    if (options !== undefined) (options as { emitInvalidate?: boolean }).emitInvalidate = false
  }
  if (cluster === undefined) return off((client as NodeClient).options)
  off(cluster._options.defaults)
  for (const node of [...cluster.masters, ...cluster.replicas]) off(node.client?.options)
}

export abstract class NodeRedisConnection extends ScriptStore<NodeClient | NodeCluster> {
  readonly client: NodeClient | NodeCluster
  /** The client is a cluster: commands are routed by their first key. */
  readonly cluster: NodeCluster | undefined
  /** Invalidations come as RESP3 pushes on the command connection (`emitInvalidate`). */
  readonly pushes: boolean
  /**
   * The server refused tracking in the handshake: the connections reconnect without it,
   * and this is told (coherence falls back to the bus); not a connection error.
   */
  onTrackingRefused: ((error: Error) => void) | undefined
  /** The cluster connected once: a node's `ready` after that is a reconnection. */
  private clusterUp = false

  constructor(template: NodeRedisClient | NodeRedisCluster, options: NodeRedisOpenOptions) {
    super(options)
    this.client = duplicateOf(template, options.tracking)
    this.cluster = isNodeRedisCluster(template) ? (this.client as NodeCluster) : undefined
    this.pushes = options.tracking && (this.cluster !== undefined || respOf(template) === 3)
    const emitter = this.client as unknown as NodeJS.EventEmitter
    const failed = (error: Error): void => {
      if (!this.pushes || !refusesTracking(error)) return this.connectionError(error)
      stopTracking(this.client, this.cluster)
      this.onTrackingRefused?.(error)
    }
    emitter.on('error', failed)
    if (this.cluster === undefined) {
      emitter.on('ready', () => this.connectionReady())
      emitter.on('end', () => this.ended())
      emitter.on('reconnecting', () => this.ended())
      ;(this.client as NodeClient).connect().catch(() => undefined)
      return
    }
    emitter.on('node-error', failed)
    emitter.on('node-ready', () => {
      if (this.clusterUp) this.connectionReady()
    })
    emitter.on('node-disconnect', () => this.ended())
    this.connectCluster(1)
  }

  /** A cluster's first connection; node-redis does not retry it, memoredis does at its own pace. */
  private connectCluster(attempt: number): void {
    const cluster = this.cluster as NodeCluster
    cluster.connect().then(
      () => {
        this.clusterUp = true
        this.connectionReady()
      },
      () => {
        if (!this.closed) setTimeout(() => this.connectCluster(attempt + 1), retryStrategy(attempt)).unref()
      },
    )
  }

  private ended(): void {
    if (!this.closed) this.options.events.close()
  }

  protected get connected(): boolean {
    return this.client.isReady
  }

  protected get connectionState(): string {
    return this.client.isOpen ? 'reconnecting' : 'closed'
  }

  /** One command through `run`; bulk replies as Buffers. On a cluster, `key` routes it. */
  protected command<T>(name: string, key: string | undefined, args: Argument[], received?: (value: T) => void): Promise<T> {
    return this.run(name, () => this.send<T>(key, args), received)
  }

  /** One command, outside `run` (no deadline, no breaker). */
  protected send<T>(key: string | undefined, args: Argument[]): Promise<T> {
    if (this.cluster === undefined) return (this.client as NodeClient).sendCommand(args) as Promise<T>
    return this.cluster.sendCommand(key, false, args) as Promise<T>
  }

  /** The connection to each master: the client itself, or the cluster's to each of its masters. */
  async masters(): Promise<NodeClient[]> {
    const cluster = this.cluster
    if (cluster === undefined) return [this.client as NodeClient]
    return Promise.all(cluster.masters.map((master) => cluster.nodeClient(master) as Promise<NodeClient>))
  }

  /** Closes the connection: a graceful close, but no longer than the command timeout, then the socket. */
  async close(): Promise<void> {
    const client = this.client
    await this.closeWith(
      () => client.close(),
      () => {
        if (client.isOpen) client.destroy()
      },
    )
  }
}
