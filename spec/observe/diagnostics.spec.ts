import { expect } from 'chai'
import express from 'express'
import { tracingChannel } from 'node:diagnostics_channel'
import { createServer, type Server } from 'node:http'
import { expressCache } from '../../lib/http/express.ts'
import { channels, memoize, type Cache, type ComputeContext, type LockWaitContext, type ReadContext } from '../../lib/index.ts'
import { heldRun, next, sleep, useCaches } from '../fixtures/stampede-helpers.ts'
import { call, closeServers, listen } from '../support/http.ts'

/**
 * The tracing channels (`memoredis:read`, `memoredis:compute`, `memoredis:lock-wait`):
 * the contexts and the order of their events for each way a call goes, against real Redis.
 * Caches on one Redis stand for processes.
 */

type Phase = 'start' | 'end' | 'asyncStart' | 'asyncEnd' | 'error'
interface Seen<C> {
  phase: Phase
  /** The context object itself (the same one for every event of a trace). */
  context: C
  /** Its fields when the event was published. */
  fields: Record<string, unknown>
}

/** Records every event of a tracing channel until `stop()`. */
function watch<C extends object>(name: string): { seen: Seen<C>[]; stop(): void; phases(): Phase[] } {
  const channel = tracingChannel<unknown, C>(name)
  const seen: Seen<C>[] = []
  const on = (phase: Phase) => (message: unknown) => {
    seen.push({ phase, context: message as C, fields: { ...(message as object) } })
  }
  const handlers = { start: on('start'), end: on('end'), asyncStart: on('asyncStart'), asyncEnd: on('asyncEnd'), error: on('error') }
  channel.subscribe(handlers)
  let subscribed = true
  afterEach(() => {
    if (subscribed) channel.unsubscribe(handlers)
    subscribed = false
  })
  return {
    seen,
    stop() {
      if (subscribed) channel.unsubscribe(handlers)
      subscribed = false
    },
    phases: () => seen.map((s) => s.phase),
  }
}

/** Calls `read` until one call is an L1 hit (a cache that just connected may not keep its first value in L1). */
async function warm(cache: Cache, read: () => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const hits = cache.stats().l1.hits
    await read()
    if (cache.stats().l1.hits > hits) return
    await sleep(10)
  }
  throw new Error('the value never stayed in L1')
}

const OK: Phase[] = ['start', 'end', 'asyncStart', 'asyncEnd']
const FAILED: Phase[] = ['start', 'end', 'error', 'asyncStart', 'asyncEnd']

/** The one context of a single trace, after checking that every event carried it. */
function only<C>(seen: Seen<C>[]): C {
  const context = seen[0]?.context
  expect(seen.every((s) => s.context === context)).to.equal(true)
  return context as C
}

describe('tracing channels', () => {
  const { make, fakeDate } = useCaches()

  it('are named memoredis:read, memoredis:compute and memoredis:lock-wait', () => {
    expect(channels).to.deep.equal({ read: 'memoredis:read', compute: 'memoredis:compute', lockWait: 'memoredis:lock-wait' })
  })

  it('traces an L1 hit of a memoized function: start, end, asyncStart, asyncEnd, with hit-l1 set after start', async () => {
    const cache = make()
    const getUser = memoize(async (id: number) => ({ id }), { cache, name: 'getUser' })
    await warm(cache, () => getUser(1))
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    const value = await getUser(1)
    expect(read.phases()).to.deep.equal(OK)
    expect(compute.seen).to.deep.equal([])
    expect(read.seen[0]?.fields.status).to.equal(undefined)
    expect(read.seen[1]?.fields.status).to.equal('hit-l1')
    expect(only(read.seen)).to.deep.equal({ cache, namespace: 'default', name: 'getUser', key: getUser.keyFor(1), status: 'hit-l1', result: value })
  })

  it('traces an L1 hit of getOrSet in a namespace, with no name', async () => {
    const users = make().namespace('users')
    await warm(users, () => users.getOrSet('u:1', () => 'ada'))
    const read = watch<ReadContext>(channels.read)
    await users.getOrSet('u:1', () => 'other')
    expect(read.phases()).to.deep.equal(OK)
    expect(only(read.seen)).to.deep.equal({ cache: users, namespace: 'users', name: undefined, key: 'spec:users:u:1', status: 'hit-l1', result: 'ada' })
  })

  it('traces an L2 hit on a second cache: hit-l2, and no computation', async () => {
    const a = make()
    const b = make()
    await a.getOrSet('k', () => 'v')
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    expect(await b.getOrSet('k', () => 'other')).to.equal('v')
    expect(read.phases()).to.deep.equal(OK)
    expect(only(read.seen)).to.deep.include({ cache: b, key: 'spec:default:k', status: 'hit-l2', result: 'v' })
    expect(compute.seen).to.deep.equal([])
  })

  it('traces a miss: status miss and the value as result on the read; the run on the compute channel', async () => {
    const cache = make()
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    const getUser = memoize(async (id: number) => ({ id }), { cache, name: 'getUser' })
    const value = await getUser(7)
    expect(read.phases()).to.deep.equal(OK)
    expect(compute.phases()).to.deep.equal(OK)
    expect(only(read.seen)).to.deep.equal({ cache, namespace: 'default', name: 'getUser', key: getUser.keyFor(7), status: 'miss', result: value })
    expect(only(compute.seen)).to.deep.equal({ cache, namespace: 'default', name: 'getUser', key: getUser.keyFor(7), background: false, result: value })
  })

  it('publishes the compute trace between the read’s start and its asyncStart', async () => {
    const cache = make()
    const events: string[] = []
    const r = tracingChannel(channels.read)
    const c = tracingChannel(channels.compute)
    const handlers = (ch: string) => ({
      start: () => events.push(`${ch}:start`),
      end: () => events.push(`${ch}:end`),
      asyncStart: () => events.push(`${ch}:asyncStart`),
      asyncEnd: () => events.push(`${ch}:asyncEnd`),
      error: () => events.push(`${ch}:error`),
    })
    const rh = handlers('read')
    const ch = handlers('compute')
    r.subscribe(rh)
    c.subscribe(ch)
    try {
      await cache.getOrSet('k', async () => 'v')
    } finally {
      r.unsubscribe(rh)
      c.unsubscribe(ch)
    }
    expect(events).to.deep.equal(['read:start', 'read:end', 'compute:start', 'compute:end', 'compute:asyncStart', 'compute:asyncEnd', 'read:asyncStart', 'read:asyncEnd'])
  })

  it('traces a stale serve with its reason, and the refresh as a background computation', async () => {
    const clock = fakeDate()
    const cache = make({ grace: '1m', staleWhileRevalidate: true })
    await cache.getOrSet('k', () => 'v1')
    clock.tick(10_500)
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    const refreshed = next(cache, 'refresh')
    expect(await cache.getOrSet('k', () => 'v2')).to.equal('v1')
    await refreshed
    expect(read.phases()).to.deep.equal(OK)
    expect(only(read.seen)).to.deep.include({ status: 'stale', staleReason: 'revalidate', result: 'v1' })
    expect(compute.phases()).to.deep.equal(OK)
    expect(only(compute.seen)).to.deep.include({ key: 'spec:default:k', background: true, result: 'v2' })
  })

  it('gives the stale reason to every caller that joined the flight (fail-safe: error)', async () => {
    const clock = fakeDate()
    const cache = make({ grace: '1m' })
    await cache.getOrSet('k', () => 'v1')
    clock.tick(10_500)
    const read = watch<ReadContext>(channels.read)
    const failing = (): Promise<string> => Promise.reject(new Error('down'))
    const calls = [cache.getOrSet('k', failing), cache.getOrSet('k', failing)]
    expect(await Promise.all(calls)).to.deep.equal(['v1', 'v1'])
    const contexts = [...new Set(read.seen.map((s) => s.context))]
    expect(contexts.length).to.equal(2)
    for (const context of contexts) expect(context).to.deep.include({ status: 'stale', staleReason: 'error' })
  })

  it('publishes error on the read and compute channels when the function throws', async () => {
    const cache = make()
    const boom = new Error('boom')
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    expect(await cache.getOrSet('k', () => Promise.reject(boom)).catch((e: unknown) => e)).to.equal(boom)
    expect(read.phases()).to.deep.equal(FAILED)
    expect(compute.phases()).to.deep.equal(FAILED)
    expect(read.seen.find((s) => s.phase === 'error')?.fields.error).to.equal(boom)
    expect(only(read.seen)).to.deep.include({ status: 'miss', error: boom })
    expect(only(compute.seen)).to.deep.include({ background: false, error: boom })
    expect(only(compute.seen).result).to.equal(undefined)
  })

  it('traces a wait for another cache’s computation, ended by its value', async () => {
    const a = make()
    const b = make()
    const { result: first, gate } = await heldRun((fn: () => Promise<string>) => a.getOrSet('k', fn))
    const wait = watch<LockWaitContext>(channels.lockWait)
    const read = watch<ReadContext>(channels.read)
    const waiting = next(b, 'lock-wait')
    const second = b.getOrSet('k', () => 'b computed')
    await waiting
    expect(wait.phases()).to.deep.equal(['start', 'end'])
    expect(wait.seen[0]?.fields.outcome).to.equal(undefined)
    gate.resolve('from a')
    expect(await first).to.equal('from a')
    expect(await second).to.equal('from a')
    expect(wait.phases()).to.deep.equal(OK)
    expect(only(wait.seen)).to.deep.equal({ cache: b, namespace: 'default', name: undefined, key: 'spec:default:k', outcome: 'value' })
    const bRead = read.seen.filter((s) => s.context.cache === b)
    expect(only(bRead)).to.deep.include({ status: 'hit-l2', result: 'from a' })
  })

  it('ends a wait with timeout when lock.wait passes with no stale value', async () => {
    const a = make()
    const b = make({ lock: { wait: 100 } })
    const { result: first, gate } = await heldRun((fn: () => Promise<string>) => a.getOrSet('k', fn))
    const wait = watch<LockWaitContext>(channels.lockWait)
    expect(await b.getOrSet('k', () => 'b computed')).to.equal('b computed')
    expect(wait.phases()).to.deep.equal(OK)
    expect(only(wait.seen)).to.deep.include({ cache: b, outcome: 'timeout' })
    gate.resolve('from a')
    await first
  })

  describe('the HTTP middleware', () => {
    const servers: Server[] = []
    afterEach(() => closeServers(servers))

    it('traces each lookup as a read in its namespace (http), with no name: a miss, then a hit', async () => {
      const cache = make()
      const app = express()
      app.use(expressCache({ cache, ttl: '1m' }))
      app.get('/r', (_req, res) => void res.json({ n: 1 }))
      const server = createServer(app)
      servers.push(server)
      const base = await listen(server)
      const read = watch<ReadContext>(channels.read)
      expect((await call(base, '/r')).headers['x-cache']).to.equal('MISS')
      expect((await call(base, '/r')).headers['x-cache']).to.equal('HIT')
      const contexts = [...new Set(read.seen.map((s) => s.context))]
      expect(read.phases()).to.deep.equal([...OK, ...OK])
      expect(contexts.map((c) => [c.namespace, c.name, c.status])).to.deep.equal([
        ['http', undefined, 'miss'],
        // A hit in L1, unless the first value did not stay there (a cache that just connected).
        ['http', undefined, contexts[1]?.status === 'hit-l1' ? 'hit-l1' : 'hit-l2'],
      ])
      // The namespace view the middleware reads through, of this cache.
      expect(contexts[0]?.cache).to.equal(contexts[1]?.cache)
      expect(contexts[0]?.cache.stats()).to.deep.equal(cache.stats())
      expect(contexts[0]?.key).to.match(/^spec:http:GET /)
    })
  })

  it('publishes nothing once unsubscribed', async () => {
    const cache = make()
    const read = watch<ReadContext>(channels.read)
    const compute = watch<ComputeContext>(channels.compute)
    await cache.getOrSet('k', () => 'v')
    expect(read.seen.length).to.equal(4)
    read.stop()
    compute.stop()
    await cache.getOrSet('k', () => 'v')
    await cache.getOrSet('other', () => 'v')
    await cache.getOrSet('thrown', () => Promise.reject(new Error('x'))).catch(() => undefined)
    expect(read.seen.length).to.equal(4)
    expect(compute.seen.length).to.equal(4)
    expect(tracingChannel(channels.read).hasSubscribers).to.equal(false)
  })
})
