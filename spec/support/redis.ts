import { Redis } from 'ioredis'
import { RedisServer } from './redis-server.ts'

/**
 * One Redis for a `describe` block: a fresh `redis-server` on a free port, or the server
 * named by `REDIS_URL`. Flushed before each test; stopped after the block.
 *
 * @example
 * describe('x', () => {
 *   const redis = useRedis()
 *   it('...', async () => { const cache = createCache({ redis: redis.url }) })
 * })
 */
export interface SuiteRedis {
  /** URL of the server for this block. */
  readonly url: string
  /** A plain ioredis client for the spec's own checks (raw GET/SET, PTTL, ...). */
  readonly client: Redis
  /** The server process, when the suite started one (undefined with REDIS_URL). */
  readonly server: RedisServer | undefined
}

export function useRedis(options: { args?: string[] } = {}): SuiteRedis {
  const state: { url: string; client: Redis | undefined; server: RedisServer | undefined } = {
    url: '',
    client: undefined,
    server: undefined,
  }
  before(async function () {
    this.timeout(20_000)
    const external = process.env.REDIS_URL
    if (external !== undefined && external !== '' && options.args === undefined) {
      state.url = external
    } else {
      state.server = await RedisServer.start({ args: options.args ?? [] })
      state.url = state.server.url
    }
    state.client = new Redis(state.url, { maxRetriesPerRequest: 1 })
  })
  beforeEach(async () => {
    await state.client?.flushall()
  })
  after(async () => {
    state.client?.disconnect()
    await state.server?.stop()
  })
  return {
    get url() {
      return state.url
    },
    get client() {
      if (state.client === undefined) throw new Error('useRedis: the client exists only inside tests')
      return state.client
    },
    get server() {
      return state.server
    },
  }
}
