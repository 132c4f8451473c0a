import { expect } from 'chai'
import sinon from 'sinon'
import { context, type Meter, type MeterProvider } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { tracingChannel } from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import { CacheClosedError, channels, createCache, InvalidOptionError, type Cache, type CacheOptions } from '../../lib/index.ts'
import { instrument, INSTRUMENTS, type InstrumentOptions } from '../../lib/otel/index.ts'
import { cachesOn, heldRun, useCaches } from '../fixtures/stampede-helpers.ts'
import { Child } from '../support/child.ts'
import { coreOf } from '../support/internals.ts'
import { telemetry, valueOf, type Collected, type SpanRecord, type Telemetry } from '../support/otel.ts'
import { RedisServer } from '../support/redis-server.ts'
import { useRedis } from '../support/redis.ts'
import { specClients } from '../support/topology.ts'

/**
 * `memoredis/otel` with the real OpenTelemetry SDK (in-memory exporters) against real
 * Redis: the counts, round trips and spans of scripted runs and Redis killed (on every
 * client, `specClients`), a stampede across two processes, bad input, and providers that throw.
 */

const WORKER = new URL('../fixtures/otel-worker.ts', import.meta.url)
const N = INSTRUMENTS

/** Telemetry opened per test and shut down after it. */
function useTelemetry(): () => Telemetry {
  const opened: Telemetry[] = []
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((t) => t.shutdown()))
  })
  return () => {
    const t = telemetry()
    opened.push(t)
    return t
  }
}

/** Resolves once the cache hears every change (tracking set up), so that what it reads from Redis enters L1. */
async function settled(cache: Cache): Promise<void> {
  for (let i = 0; i < 500 && coreOf(cache).coherence?.settled === false; i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

/** The providers of a telemetry, as `instrument` options. */
const providers = (t: Telemetry): InstrumentOptions => ({ meterProvider: t.meterProvider, tracerProvider: t.tracerProvider })

/** The count and sum of a histogram's points whose attributes include `match`. */
function histogram(collected: Collected, name: string, match: Record<string, unknown> = {}): { count: number; sum: number } {
  const points = (collected[name]?.points ?? []).filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v))
  return { count: points.reduce((n, p) => n + (p.count ?? 0), 0), sum: points.reduce((n, p) => n + (p.sum ?? 0), 0) }
}

for (const client of specClients({ iovalkey: true })) {
  describe(`memoredis/otel: metrics of scripted runs on ${client.name}`, () => {
    const redis = useRedis()
    const { make } = cachesOn(() => client.redis(redis.url))
    const open = useTelemetry()

    it('counts reads by tier and result, computations, bytes each way and round trips, for hits on both tiers', async () => {
      const ta = open()
      const tb = open()
      const a = make()
      const b = make()
      instrument(a, providers(ta))
      instrument(b, providers(tb))
      await Promise.all([settled(a), settled(b)])
      const value = 'v'.repeat(500)
      expect(await a.getOrSet('k', () => value)).to.equal(value)
      for (let i = 0; i < 3; i++) expect(await a.getOrSet('k', () => 'other')).to.equal(value)
      expect(await b.getOrSet('k', () => 'other')).to.equal(value)
      const stored = await redis.client.strlen('spec:default:k')

      const ma = await ta.collect()
      const sa = a.stats()
      const reads = (tier: string, result: string): number => valueOf(ma, N.reads.name, { 'memoredis.tier': tier, 'memoredis.read.result': result })
      // Four reads: the first missed both tiers and computed; the others hit (L1, or L2 while L1 was not filled yet).
      expect(reads('l1', 'hit') + reads('l1', 'miss')).to.equal(4)
      expect(reads('l1', 'hit')).to.equal(sa.l1.hits).and.be.greaterThan(1)
      expect(reads('l1', 'miss')).to.equal(sa.l1.misses)
      expect(reads('l2', 'miss')).to.equal(1)
      expect(reads('l2', 'hit')).to.equal(sa.l2.hits)
      expect(reads('l1', 'hit') + reads('l2', 'hit')).to.equal(3)
      expect(valueOf(ma, N.computations.name)).to.equal(1)
      expect(valueOf(ma, N.redisIo.name, { 'network.io.direction': 'transmit' })).to.equal(stored)
      expect(valueOf(ma, N.l1Entries.name)).to.equal(1)
      // A cold miss: GET, READ_OR_LOCK, FILL, one round trip each; an L2 hit one GET (and one
      // per tag stamp not known yet); an L1 hit none.
      expect(histogram(ma, N.roundTrip.name, { 'db.operation.name': 'GET' }).count).to.be.at.least(1 + reads('l2', 'hit'))
      for (const command of ['READ_OR_LOCK', 'FILL']) {
        expect(histogram(ma, N.roundTrip.name, { 'db.operation.name': command }).count, command).to.equal(1)
      }
      expect(ma[N.roundTrip.name]?.unit).to.equal('s')

      const mb = await tb.collect()
      expect(valueOf(mb, N.reads.name, { 'memoredis.tier': 'l2', 'memoredis.read.result': 'hit' })).to.equal(1)
      expect(valueOf(mb, N.computations.name)).to.equal(0)
      expect(valueOf(mb, N.redisIo.name, { 'network.io.direction': 'receive' })).to.equal(stored)
      const get = histogram(mb, N.roundTrip.name, { 'db.operation.name': 'GET' })
      expect(get.count).to.be.at.least(1)
      expect(get.sum).to.be.greaterThan(0).and.lessThan(1)
      // Every series names its cache.
      expect(mb[N.reads.name]?.points.every((p) => p.attributes['memoredis.cache.prefix'] === 'spec')).to.equal(true)

      // One span, for the one computation; none for the hits of either cache.
      expect(ta.spans().map((span) => [span.name, span.attributes['memoredis.namespace'], span.attributes['memoredis.computation.background']])).to.deep.equal([
        ['memoredis compute', 'default', false],
      ])
      expect(tb.spans()).to.deep.equal([])
      expect(histogram(ma, N.computationDuration.name).count).to.equal(1)
      expect(histogram(mb, N.computationDuration.name).count).to.equal(0)
    })

    it('reports the circuit closed and the coherence mode, with one series per state', async () => {
      const t = open()
      const cache = make()
      instrument(cache, providers(t))
      await cache.get('warm-up')
      // Its coherence set up (a loaded machine may take longer than the first read).
      await settled(cache)
      const m = await t.collect()
      expect(valueOf(m, N.circuit.name, { 'memoredis.circuit.state': 'closed' })).to.equal(1)
      expect(valueOf(m, N.circuit.name, { 'memoredis.circuit.state': 'open' })).to.equal(0)
      expect(valueOf(m, N.coherence.name, { 'memoredis.coherence.mode': 'tracking' })).to.equal(1)
      expect(valueOf(m, N.coherence.name)).to.equal(1)
    })

    it('counts stale values served by reason', async () => {
      const t = open()
      const cache = make({ ttl: '50ms', grace: '1m' })
      instrument(cache, providers(t))
      await cache.getOrSet('k', () => 'v1')
      await new Promise((resolve) => setTimeout(resolve, 60))
      expect(await cache.getOrSet('k', () => Promise.reject(new Error('down')))).to.equal('v1')
      const m = await t.collect()
      expect(valueOf(m, N.staleServes.name, { 'memoredis.stale.reason': 'error' })).to.equal(1)
      expect(valueOf(m, N.staleServes.name, { 'memoredis.stale.reason': 'revalidate' })).to.equal(0)
    })

    it('stops recording once uninstrumented, and once the cache is closed', async () => {
      const t = open()
      const cache = make()
      const handle = instrument(cache, providers(t))
      await cache.getOrSet('k', () => 1)
      handle.uninstrument()
      handle.uninstrument()
      expect(coreOf(cache).l2?.onRoundTrip).to.equal(undefined)
      await cache.getOrSet('k2', () => 2)
      expect(t.spans(), 'no span for the computation after').to.have.length(1)
      expect((await t.collect())[N.reads.name]).to.equal(undefined)

      const again = instrument(cache, providers(t))
      expect(again).to.not.equal(handle)
      expect(valueOf(await t.collect(), N.computations.name)).to.equal(2)
      await cache.close()
      const read = sinon.spy(cache, 'stats')
      await t.collect()
      expect(read.callCount, 'a closed cache is no longer read').to.equal(0)
      // Nor traced: its channel handlers leave at the next computation they see (another cache's).
      const subscribers = (): number => (tracingChannel(channels.compute).start as unknown as { _subscribers?: unknown[] })._subscribers?.length ?? 0
      const before = subscribers()
      await make().getOrSet('other', () => 3)
      await Promise.resolve()
      expect(subscribers()).to.equal(before - 1)
    })
  })
}

describe('memoredis/otel: computations', () => {
  const { make } = useCaches()
  const open = useTelemetry()

  it('measures a computation in a span and the duration histogram, in seconds', async () => {
    const t = open()
    const cache = make()
    instrument(cache, providers(t))
    const getUser = cache.memoize(async (id: number) => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      return { id }
    }, { name: 'getUser' })
    expect(await getUser(1)).to.deep.equal({ id: 1 })
    expect(await getUser(1)).to.deep.equal({ id: 1 })
    const [span, ...others] = t.spans()
    expect(others).to.deep.equal([])
    expect(span?.name).to.equal('memoredis compute')
    expect(span?.attributes).to.deep.include({ 'memoredis.function': 'getUser', 'memoredis.namespace': 'default', 'memoredis.cache.prefix': 'spec' })
    expect(span?.attributes).to.not.have.property('memoredis.key')
    expect(span?.durationMs).to.be.at.least(49)
    const duration = histogram(await t.collect(), N.computationDuration.name, { 'memoredis.computation.background': false })
    expect(duration.count).to.equal(1)
    expect(duration.sum).to.be.at.least(0.049).and.lessThan(5)
  })

  it('makes the computation span a child of the span the call was made under (with a context manager)', async () => {
    const manager = new AsyncLocalStorageContextManager().enable()
    context.setGlobalContextManager(manager)
    try {
      const t = open()
      const cache = make()
      instrument(cache, providers(t))
      const tracer = t.tracerProvider.getTracer('app')
      const requestSpanId = await tracer.startActiveSpan('GET /users/1', async (request) => {
        await cache.getOrSet('user:1', async () => ({ id: 1 }))
        request.end()
        return request.spanContext().spanId
      })
      const compute = t.spans().find((span) => span.name === 'memoredis compute')
      expect(compute?.parent).to.equal(requestSpanId)
    } finally {
      context.disable()
    }
  })

  it('leaves the read channel unsubscribed: hits publish nothing', () => {
    const t = open()
    instrument(make(), providers(t))
    expect(tracingChannel(channels.read).hasSubscribers).to.equal(false)
    expect(tracingChannel(channels.compute).hasSubscribers).to.equal(true)
  })

  it('marks a failed computation: span status ERROR with the exception, error.type on the histogram', async () => {
    const t = open()
    const cache = make()
    instrument(cache, providers(t))
    const boom = new TypeError('no such user')
    expect(await cache.getOrSet('k', () => Promise.reject(boom)).catch((e: unknown) => e)).to.equal(boom)
    const [span] = t.spans()
    expect(span?.status).to.equal(2) // SpanStatusCode.ERROR
    expect(span?.attributes['error.type']).to.equal('TypeError')
    expect(histogram(await t.collect(), N.computationDuration.name, { 'error.type': 'TypeError' }).count).to.equal(1)
  })
})

describe('memoredis/otel: bad input', () => {
  const { make } = useCaches()
  const open = useTelemetry()

  it('refuses a closed cache with CacheClosedError (ERR_CLOSED)', async () => {
    const cache = make()
    await cache.close()
    expect(() => instrument(cache, providers(open()))).to.throw(CacheClosedError).with.property('code', 'ERR_CLOSED')
  })

  it('refuses what is not a cache, unknown options and providers that are not providers, with ERR_INVALID_OPTION', () => {
    const cache = make()
    expect(() => instrument({} as Cache)).to.throw(InvalidOptionError, /createCache/)
    expect(() => instrument(cache, { meter: 1 } as never)).to.throw(InvalidOptionError, /has no option "meter"/)
    expect(() => instrument(cache, { meterProvider: {} as MeterProvider })).to.throw(InvalidOptionError, /getMeter/)
    expect(() => instrument(cache, { roundTrips: 'yes' } as never)).to.throw(InvalidOptionError, /roundTrips/)
  })

  it('returns the same handle when called twice with the same providers (a namespace view included), and refuses other providers', () => {
    const t = open()
    const cache = make()
    const handle = instrument(cache, providers(t))
    expect(instrument(cache, { meterProvider: t.meterProvider, tracerProvider: t.tracerProvider })).to.equal(handle)
    expect(instrument(cache.namespace('other'), providers(t))).to.equal(handle)
    expect(() => instrument(cache, providers(open()))).to.throw(InvalidOptionError, /already instrumented/)
    handle[Symbol.dispose]()
    expect(instrument(cache, providers(open()))).to.not.equal(handle)
  })
})

describe('memoredis/otel: providers that throw', () => {
  const { make } = useCaches()
  const open = useTelemetry()

  /** The SDK's meter provider, with one meter method replaced. */
  function breaking(t: Telemetry, change: (meter: Meter) => Partial<Meter>): MeterProvider {
    return {
      getMeter(name, version, options) {
        const meter = t.meterProvider.getMeter(name, version, options)
        return Object.assign(Object.create(meter) as Meter, change(meter))
      },
    }
  }

  it('throws at set-up when creating an instrument throws, leaving nothing installed, and reads go on', async () => {
    const boom = new Error('createHistogram failed')
    const cache = make()
    const meterProvider = breaking(open(), () => ({ createHistogram: () => { throw boom } }))
    expect(() => instrument(cache, { meterProvider })).to.throw(boom)
    expect(coreOf(cache).l2?.onRoundTrip).to.equal(undefined)
    expect(await cache.getOrSet('k', () => 42)).to.equal(42)
    // Not half instrumented: a working provider is accepted next.
    expect(() => instrument(cache, providers(open()))).to.not.throw()
  })

  it('never fails a read when recording a histogram throws', async () => {
    const t = open()
    const meterProvider = breaking(t, (meter) => ({
      createHistogram: (name, options) => {
        const real = meter.createHistogram(name, options)
        return Object.assign(Object.create(real) as typeof real, { record: () => { throw new Error('record failed') } })
      },
    }))
    const a = make()
    const b = make()
    instrument(a, { meterProvider, tracerProvider: t.tracerProvider })
    expect(await a.getOrSet('k', () => 'v')).to.equal('v')
    expect(await b.getOrSet('k', () => 'other')).to.equal('v')
    expect(await a.getOrSet('k', () => 'other')).to.equal('v')
    // The observable counters, read at collection, still count.
    expect(valueOf(await t.collect(), N.computations.name)).to.equal(1)
  })

  it('never fails a read when the tracer throws at the start of a span', async () => {
    const t = open()
    const tracerProvider = { getTracer: () => ({ startSpan: () => { throw new Error('no spans today') } }) } as unknown as InstrumentOptions['tracerProvider']
    const cache = make()
    instrument(cache, { meterProvider: t.meterProvider, tracerProvider })
    expect(await cache.getOrSet('k', () => 'v')).to.equal('v')
    expect(valueOf(await t.collect(), N.computations.name)).to.equal(1)
  })

  it('never fails a read when the batch callback throws at collection (the SDK reports it)', async () => {
    const t = open()
    const cache = make()
    instrument(cache, providers(t))
    const core = coreOf(cache)
    const original = core.l2?.circuit
    Object.defineProperty(core.l2, 'circuit', { get: () => { throw new Error('state unreadable') }, configurable: true })
    try {
      await t.collect()
      expect(await cache.getOrSet('k', () => 7)).to.equal(7)
    } finally {
      delete (core.l2 as unknown as Record<string, unknown>).circuit
    }
    expect(coreOf(cache).l2?.circuit).to.equal(original)
  })
})

describe('memoredis/otel: a stampede across two processes', () => {
  const { redis, make } = useCaches()
  const open = useTelemetry()
  let child: Child | undefined
  afterEach(async () => {
    await child?.stop()
    child = undefined
  })

  it('runs one computation; the other process waits, counted, measured in the histogram and as a span', async function () {
    this.timeout(20_000)
    const t = open()
    const parent = make({ ttl: '1m', lock: { wait: '10s' } } satisfies CacheOptions)
    instrument(parent, providers(t))
    child = await Child.start(WORKER, { REDIS_URL: redis.url })
    await child.call('open', 'spec')
    const { result: computing, gate: release } = await heldRun((fn: () => Promise<string>) => parent.getOrSet('k', fn))
    expect(await child.call('startRead', 'k')).to.equal('waiting')
    const waitedFrom = performance.now()
    await new Promise((resolve) => setTimeout(resolve, 100))
    release.resolve('from the parent')
    expect(await computing).to.equal('from the parent')
    expect(await child.call('finishRead')).to.equal('from the parent')
    const waitedMs = performance.now() - waitedFrom

    const mine = await t.collect()
    const theirs = await child.call<Collected>('collect')
    expect(valueOf(mine, N.computations.name)).to.equal(1)
    expect(valueOf(theirs, N.computations.name)).to.equal(0)
    expect(valueOf(theirs, N.lockWaits.name)).to.equal(1)
    expect(valueOf(theirs, N.lockTimeouts.name)).to.equal(0)
    expect(valueOf(mine, N.lockWaits.name)).to.equal(0)
    expect(waitedMs).to.be.greaterThan(100)
    // The wait, measured in the child's histogram and as its one span; the computation in the parent's.
    const waited = histogram(theirs, N.lockWaitDuration.name, { 'memoredis.lock.outcome': 'value' })
    expect(waited.count).to.equal(1)
    expect(waited.sum).to.be.at.least(0.09).and.at.most(waitedMs / 1000 + 0.05)
    const childSpans = await child.call<SpanRecord[]>('spans')
    expect(childSpans.map((span) => [span.name, span.attributes['memoredis.lock.outcome']])).to.deep.equal([['memoredis lock wait', 'value']])
    expect(childSpans[0]?.durationMs).to.be.at.least(90)
    expect(t.spans().map((span) => span.name)).to.deep.equal(['memoredis compute'])
    expect(histogram(mine, N.computationDuration.name).sum).to.be.at.least(0.09)
    expect(histogram(mine, N.lockWaitDuration.name).count).to.equal(0)
  })
})

for (const client of specClients({ iovalkey: true })) {
  describe(`memoredis/otel: Redis killed, on ${client.name}`, () => {
    let server: RedisServer
    let cache: Cache | undefined
    const open = useTelemetry()
    before(async () => {
      server = await RedisServer.start()
    })
    after(async () => {
      await cache?.close()
      await server.stop()
    })

    it('counts the errors by code and shows the circuit open, while every read is answered', async function () {
      this.timeout(20_000)
      const t = open()
      cache = createCache({ redis: client.redis(server.url), prefix: 'spec', redisTimeout: '200ms', circuit: { failures: 1, resetAfter: '10s' } })
      instrument(cache, providers(t))
      await cache.getOrSet('k', () => 1)
      const before = await t.collect()
      expect(valueOf(before, N.circuit.name, { 'memoredis.circuit.state': 'closed' })).to.equal(1)
      expect(valueOf(before, N.redisErrors.name)).to.equal(0)

      const refused = new Promise<void>((resolve) =>
        cache?.on('error', ({ error }) => {
          if (error.message.startsWith('redis: connect ECONNREFUSED')) resolve()
        }),
      )
      await server.kill()
      await refused
      for (let i = 0; i < 3; i++) expect(await cache.getOrSet(`after:${i}`, () => i)).to.equal(i)
      const after = await t.collect()
      expect(valueOf(after, N.redisErrors.name, { 'error.type': 'ECONNREFUSED' })).to.be.greaterThan(0)
      expect(valueOf(after, N.redisErrors.name, { 'error.type': 'ERR_CIRCUIT_OPEN' })).to.be.greaterThan(0)
      expect(valueOf(after, N.circuit.name, { 'memoredis.circuit.state': 'open' })).to.equal(1)
      expect(valueOf(after, N.circuit.name, { 'memoredis.circuit.state': 'closed' })).to.equal(0)
      expect(valueOf(after, N.computations.name)).to.equal(4)
    })
  })
}

describe('memoredis/otel: packaging', () => {
  it('is not reachable from memoredis itself: no module that lib/index.ts imports names @opentelemetry', () => {
    const seen = new Set<string>()
    const visit = (url: URL): void => {
      if (seen.has(url.href)) return
      seen.add(url.href)
      const source = readFileSync(url, 'utf8')
      expect(source, url.pathname).to.not.match(/from '@opentelemetry\//)
      for (const [, spec] of source.matchAll(/^(?:import|export)[^'\n]*from '(\.[^']+)'/gm)) visit(new URL(spec as string, url))
    }
    visit(new URL('../../lib/index.ts', import.meta.url))
    expect(seen.size).to.be.greaterThan(20)
    expect([...seen].some((href) => href.includes('/otel/'))).to.equal(false)
  })
})
