import type { Redis } from 'ioredis'
import { connect, isCluster, type Client, type RedisSource } from './client.ts'
import type { RedisTierOptions } from './breaker.ts'
import { ScriptStore } from './script-store.ts'

/**
 * memoredis's own connection to Redis over ioredis: the client's events wired to the
 * circuit breaker and the start (`breaker.ts`, which every command goes through), and,
 * on a single node, commands batched into few socket writes. The connection is
 * memoredis's own (a template client is duplicated, never used), with the offline queue
 * off, so that a write can never be replayed late after a reconnect. The commands of the
 * Redis path are `tier.ts`.
 */

/** Commands per socket write when many are sent in one tick (see `batchWrites`). */
const FLUSH_EVERY = 8

export abstract class RedisConnection extends ScriptStore<Client> {
  readonly client: Client
  /** A Cluster: commands go over one socket per node, and are not batched here. */
  protected readonly cluster: boolean
  /** A command was sent in this tick (see `batchWrites`). */
  private sentThisTick = false
  /** The socket corked until the next tick (see `batchWrites`). */
  private corked: Redis['stream'] | undefined
  /** Commands written to the corked socket since its last write. */
  private corkedCommands = 0

  constructor(source: RedisSource, options: RedisTierOptions) {
    super(options)
    this.client = connect(source)
    this.cluster = isCluster(this.client)
    this.client.on('error', (error: Error) => this.connectionError(error))
    this.client.on('ready', () => this.connectionReady())
    this.client.on('close', () => {
      if (!this.closed) options.events.close()
    })
  }

  protected get connected(): boolean {
    return this.client.status === 'ready'
  }

  protected get connectionState(): string {
    return this.client.status
  }

  protected override beforeSend(): void {
    this.batchWrites()
  }

  /**
   * Commands sent in one tick share socket writes: the first is written at once (a lone
   * call waits for nothing), and from the second the socket is corked until the next
   * tick (a write syscall costs more than a small command), with a write every
   * {@link FLUSH_EVERY} commands so that Redis starts on the first ones while this
   * process still prepares the rest (a cold miss of 50 concurrent keys: about 1.45x the
   * floor, against 1.75x with one write per tick; see bench/engine.ts). Called before
   * each command is written. A single node only: a Cluster spreads commands over one
   * socket per node.
   */
  private batchWrites(): void {
    const corked = this.corked
    if (corked !== undefined) {
      if (this.corkedCommands === FLUSH_EVERY) {
        corked.uncork()
        corked.cork()
        this.corkedCommands = 0
      }
      this.corkedCommands++
      return
    }
    if (this.cluster) return
    if (!this.sentThisTick) {
      this.sentThisTick = true
      process.nextTick(this.endTick)
      return
    }
    const stream = (this.client as Redis).stream as Redis['stream'] | undefined
    if (stream === undefined || stream.writableCorked > 0) return
    stream.cork()
    this.corked = stream
    this.corkedCommands = 1
  }

  /** The tick's commands are all sent: those still corked leave. */
  private readonly endTick = (): void => {
    this.sentThisTick = false
    const corked = this.corked
    this.corked = undefined
    corked?.uncork()
  }

  /** Closes the connection: QUIT, but no longer than the command timeout (a paused server never answers). */
  async close(): Promise<void> {
    await this.closeWith(() => this.client.quit(), () => this.client.disconnect())
  }
}
