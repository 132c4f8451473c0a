/**
 * Cache hits, measured against their floors in the same run:
 *
 *   L1 hit   a memoized call with an object argument, answered from L1, vs the floor: an
 *            lru-cache `get` under a `JSON.stringify` key (awaited, as every memoized call
 *            is; the bare synchronous get is printed too). Target: ≤ 2x the floor.
 *   L2 hit   the same call with `l1: false`, answered from Redis, vs the floor: ioredis
 *            `GET` + `superjson.parse` of the same value. Sequential (one call at a time)
 *            and with concurrency (workers on keys of their own, so that single-flight
 *            does not merge their calls). Target: ≤ 1.2x the floor.
 *   peers    the same L1 hit through cache-manager, async-cache-dedupe and cachified,
 *            when `cd bench && npm install` has installed them.
 *
 * Each case is warmed up, then measured in rounds that alternate between the cases (the
 * median round counts), so that drift and GC hit every case alike. A redis-server of its
 * own is started on a free port and stopped at the end.
 *
 * Run: node --conditions=source --import tsx bench/hits.ts
 * BENCH_MS sets the length of a round (default 300), BENCH_ROUNDS their number (default 7),
 * BENCH_WORKERS the concurrency of the L2 case (default 32), BENCH_ONLY=l1 or l2 runs one part.
 */
import { Redis } from 'ioredis'
import { LRUCache } from 'lru-cache'
import superjson from 'superjson'
import { createCache, memoize, type Cache } from '../lib/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'

const ROUND_MS = Number(process.env.BENCH_MS ?? 300)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const WORKERS = Number(process.env.BENCH_WORKERS ?? 32)
const ONLY = process.env.BENCH_ONLY // 'l1' or 'l2': run one part

/** The argument: a small query object, as a memoized data-access function gets. */
const query = (id: number): { userId: number; include: string[]; locale: string } => ({ userId: id, include: ['profile', 'teams'], locale: 'en' })
/** The value: a user record with a Date, like a row from a database. */
const user = (id: number): Record<string, unknown> => ({
  id,
  name: 'Ada Lovelace',
  email: 'ada@example.com',
  createdAt: new Date('2020-01-02T03:04:05Z'),
  roles: ['admin', 'editor'],
  prefs: { theme: 'dark', languages: ['en', 'fr'], digest: true },
  score: 1234.5,
})
const fetchUser = async (q: { userId: number }): Promise<Record<string, unknown>> => user(q.userId)

type Op = () => unknown
interface Case {
  name: string
  group: string
  /** One call; `worker` picks the key in concurrent cases. */
  op: (worker: number) => unknown
  workers?: number
  sync?: boolean
}

/** Runs `op` for about `ms`; returns nanoseconds per call (wall time / calls, all workers together). */
async function round(c: Case, ms: number): Promise<number> {
  const deadline = process.hrtime.bigint() + BigInt(ms * 1e6)
  const started = process.hrtime.bigint()
  let calls = 0
  if (c.sync === true) {
    const op = c.op as Op
    do {
      for (let i = 0; i < 1000; i++) op()
      calls += 1000
    } while (process.hrtime.bigint() < deadline)
  } else {
    const worker = async (w: number): Promise<void> => {
      do {
        for (let i = 0; i < 100; i++) await c.op(w)
        calls += 100
      } while (process.hrtime.bigint() < deadline)
    }
    await Promise.all(Array.from({ length: c.workers ?? 1 }, (_, w) => worker(w)))
  }
  return Number(process.hrtime.bigint() - started) / calls
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

async function measure(cases: Case[]): Promise<Map<string, number>> {
  for (const c of cases) await round(c, Math.max(200, ROUND_MS)) // warm-up: let the JIT settle
  const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of cases) samples.get(c.name)?.push(await round(c, ROUND_MS))
  }
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]))
}

function report(title: string, results: Map<string, number>, floor: string, target?: number): void {
  const base = results.get(floor) ?? NaN
  console.log(`\n${title}`)
  for (const [name, ns] of results) {
    const ratio = ns / base
    const mark = name === floor ? '  (floor)' : target !== undefined && name.startsWith('memoredis') ? (ratio <= target ? `  ✓ ≤ ${target}x` : `  ✗ > ${target}x`) : ''
    console.log(`  ${name.padEnd(44)} ${ns.toFixed(0).padStart(8)} ns/op  ${ratio.toFixed(2).padStart(6)}x${mark}`)
  }
}

/** A peer library, loaded only if bench/node_modules has it (CI installs the root only). */
async function peer<T>(name: string): Promise<T | undefined> {
  try {
    return (await import(name)) as T
  } catch {
    console.log(`  (${name} is not installed: cd bench && npm install)`)
    return undefined
  }
}

interface CacheManager { createCache(o: { ttl: number }): { wrap<T>(key: string, fn: () => Promise<T>): Promise<T> } }
interface AsyncCacheDedupe {
  createCache(o: { ttl: number; storage: { type: 'memory' } }): {
    define(name: string, fn: (q: ReturnType<typeof query>) => Promise<unknown>): Record<string, (q: ReturnType<typeof query>) => Promise<unknown>>
  }
}
interface Cachified {
  cachified<T>(o: { key: string; cache: LRUCache<string, object>; getFreshValue: () => Promise<T>; ttl: number }): Promise<T>
}

async function l1(): Promise<void> {
  const arg = query(42)
  const lru = new LRUCache<string, object>({ max: 10_000 })
  lru.set(JSON.stringify([arg]), user(42))
  const cache = createCache({ l1: { max: 10_000 } })
  const memo = memoize(fetchUser, { cache, name: 'fetchUser', ttl: '1h' })
  await memo(arg)
  const cases: Case[] = [
    { name: 'floor: await lru.get(JSON.stringify(args))', group: 'l1', op: () => Promise.resolve(lru.get(JSON.stringify([arg]))) },
    { name: 'floor, synchronous (no promise)', group: 'l1', op: () => lru.get(JSON.stringify([arg])), sync: true },
    { name: 'memoredis memoize, L1 hit', group: 'l1', op: () => memo(arg) },
  ]
  // The same hit through peer libraries, each keyed as its documentation shows.
  const cm = await peer<CacheManager>('cache-manager')
  if (cm !== undefined) {
    const c = cm.createCache({ ttl: 3_600_000 })
    await c.wrap(JSON.stringify([arg]), () => fetchUser(arg))
    cases.push({ name: 'cache-manager 7 wrap', group: 'l1', op: () => c.wrap(JSON.stringify([arg]), () => fetchUser(arg)) })
  }
  const acd = await peer<AsyncCacheDedupe>('async-cache-dedupe')
  if (acd !== undefined) {
    const c = acd.createCache({ ttl: 3600, storage: { type: 'memory' } }).define('fetchUser', fetchUser)
    await c.fetchUser?.(arg)
    cases.push({ name: 'async-cache-dedupe 3 define', group: 'l1', op: () => c.fetchUser?.(arg) })
  }
  const cf = await peer<Cachified>('@epic-web/cachified')
  if (cf !== undefined) {
    const store = new LRUCache<string, object>({ max: 10_000 })
    const get = (): Promise<unknown> => cf.cachified({ key: JSON.stringify([arg]), cache: store, getFreshValue: () => fetchUser(arg), ttl: 3_600_000 })
    await get()
    cases.push({ name: 'cachified 5', group: 'l1', op: get })
  }
  report('L1 hit: memoized call with an object argument (ns per call)', await measure(cases), cases[0]?.name ?? '', 2)
  const sync = await measure([cases[1] as Case, cases[2] as Case])
  console.log(`  memoredis vs the synchronous floor: ${((sync.get(cases[2]?.name ?? '') ?? NaN) / (sync.get(cases[1]?.name ?? '') ?? NaN)).toFixed(2)}x`)
  console.log(`  key: ${memo.keyFor(arg)}`)
  await cache.close()
}

async function l2(url: string): Promise<void> {
  const client = new Redis(url)
  const caches: Cache[] = [createCache({ redis: url, l1: false, prefix: 'bench' })]
  const memo = memoize(fetchUser, { cache: caches[0], name: 'fetchUser', ttl: '1h' })
  const workers = Math.max(1, WORKERS)
  for (let w = 0; w < workers; w++) {
    await memo(query(w))
    await client.set(`floor:${w}`, superjson.stringify(user(w)))
  }
  const floor = async (w: number): Promise<unknown> => superjson.parse((await client.get(`floor:${w}`)) as string)
  const sequential: Case[] = [
    { name: 'floor: ioredis GET + superjson.parse', group: 'l2', op: () => floor(0) },
    { name: 'memoredis memoize, L2 hit (l1: false)', group: 'l2', op: () => memo(query(0)) },
  ]
  report('L2 hit, one call at a time (ns per call)', await measure(sequential), sequential[0]?.name ?? '', 1.2)
  const concurrent: Case[] = sequential.map((c) => ({ ...c, workers, op: (w: number) => (c === sequential[0] ? floor(w) : memo(query(w))) }))
  report(`L2 hit, ${workers} concurrent callers on keys of their own (ns per call: wall time / calls)`, await measure(concurrent), concurrent[0]?.name ?? '', 1.2)
  const bytes = await client.getBuffer(memo.keyFor(query(0)))
  console.log(`  stored bytes: memoredis envelope ${bytes?.length ?? 0}, floor ${(await client.strlen('floor:0'))}`)
  await Promise.all(caches.map((c) => c.close()))
  client.disconnect()
}

const server = await RedisServer.start()
try {
  console.log(`node ${process.version}, ${ROUNDS} rounds of ${ROUND_MS} ms per case, median round shown`)
  if (ONLY !== 'l2') await l1()
  if (ONLY !== 'l1') await l2(server.url)
} finally {
  await server.stop()
}
