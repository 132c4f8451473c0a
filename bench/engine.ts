/**
 * The engine's targets, measured in one run against floors measured in the same run,
 * memoredis beside bentocache and cache-manager (see subjects.ts for their exact setup):
 *
 *   L2 hit, one call at a time   floor: ioredis GET + superjson.parse        ≤ 1.15x, and ≤ bentocache
 *   L2 hit, 32 concurrent        floor: 32 concurrent GET + parse            ≤ 1.4x
 *   cold miss, 50 concurrent     floor: GET (the miss), then SET PX per key  ≤ 1.8x, and < bentocache
 *   L1 hit                       floor: an awaited lru-cache get             ≤ 1.6x
 *   getOrSet('user:42'), L1 hit  floor: a memoize() L1 hit                   ≤ 1.2x
 *   cold stampede                4 processes × 50 callers, one cold key, a 50 ms function:
 *                                1 run in total, all answered within 50 + 10 ms
 *
 * Every library caches the same value (support.ts `user`). Timed cases are warmed up,
 * then measured in rounds that alternate between the cases of a table; times are the
 * median round's, ratios the median of each round's ratio (case and floor ran back to
 * back in it). The last lines printed are the summary, one per target. A redis-server of its
 * own is started on a free port and stopped at the end.
 *
 * memoredis is the built package (see built.ts). Run (from the repository root, after
 * `cd bench && npm ci`):
 *   npm run build && node --import tsx bench/engine.ts     (or: cd bench && npm run engine)
 * BENCH_MS: length of a round, ms (default 150); BENCH_ROUNDS: rounds per case (default 7);
 * BENCH_WORKERS: callers of the concurrent L2 case (32); BENCH_STAMPEDE_ROUNDS (7);
 * BENCH_ONLY: a comma-separated choice of l2, miss, l1, stampede, node-redis, iovalkey.
 *
 * node-redis (the `redis` package) and iovalkey (memoredis's devDependencies): the L2 hit (one call, and
 * 32 concurrent) and the cold miss of memoredis handed that client, each against
 * the client's own floor on the same kind of client (GET + superjson.parse; GET, then
 * SET PX), with the targets it has on ioredis.
 */
import { Redis as BenchRedis } from 'ioredis'
import { Redis as Valkey } from 'iovalkey'
import { createClient } from 'redis'
import { LRUCache } from 'lru-cache'
import superjson from 'superjson'
import type { CacheOptions } from '../lib/index.ts'
import { createCache, memoize } from './built.ts'
import { RedisServer } from '../spec/support/redis-server.ts'
import { stampede, type FleetLibrary, type StampedeRound } from './fleet.ts'
import { bentocache, cacheManager, memoredis, TTL_MS, type Layout, type Subject } from './subjects.ts'
import { commandCounts, measure, median, peer, RootRedis, rootRedisVersion, ROUND_MS, ROUNDS, user, type Case, type Results } from './support.ts'

const WORKERS = Number(process.env.BENCH_WORKERS ?? 32)
const MISS_CALLERS = 50
const STAMPEDE = { processes: 4, callers: 50, fnMs: 50, rounds: Number(process.env.BENCH_STAMPEDE_ROUNDS ?? 7) }
const ONLY = new Set((process.env.BENCH_ONLY ?? 'l2,miss,l1,stampede,node-redis,iovalkey').split(','))

/** The summary: one line per target. */
const summary: string[] = []

const fail = async (): Promise<never> => {
  throw new Error('a hit was expected, the function ran')
}
const ratioText = (r: number | undefined): string => (r === undefined || Number.isNaN(r) ? 'n/a' : `${r.toFixed(2)}x`)
const verdict = (met: boolean): string => (met ? 'PASS' : 'MISS')
const timeText = (ns: number): string => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} µs` : `${ns.toFixed(0)} ns`)

/** Prints a table of `results` with each case's ratio to `floor` (paired by round); returns those ratios. */
function table(title: string, results: Results, floor: string): Map<string, number> {
  const ratios = new Map<string, number>()
  console.log(`\n${title}`)
  console.log(`  ${'case'.padEnd(52)} ${'median'.padStart(10)}       ratio to the floor (median of the rounds' ratios)`)
  for (const name of results.names) {
    const ratio = results.ratio(name, floor)
    ratios.set(name, ratio)
    console.log(`  ${name.padEnd(52)} ${timeText(results.ns(name)).padStart(10)}/call  ${ratio.toFixed(2).padStart(6)}x${name === floor ? '  (floor)' : ''}`)
  }
  return ratios
}

/** The ratio of the first case whose name starts with `prefix`, if any. */
const byPrefix = (ratios: Map<string, number>, prefix: string): number | undefined => [...ratios].find(([name]) => name.startsWith(prefix))?.[1]

/** The peers in `layout`, those installed, with their configuration printed. */
async function peersIn(url: string, layout: Layout): Promise<Subject[]> {
  const found = [await bentocache(url, layout), await cacheManager(url, layout)].filter((s) => s !== undefined)
  for (const s of found) console.log(`  ${s.library}: ${s.config}`)
  return found
}

/** Whether a value read back is the one stored, Date included. */
const faithful = (v: unknown): string => ((v as { createdAt?: unknown }).createdAt instanceof Date ? 'Date kept' : 'Date comes back as a string')

async function l2Hits(url: string, raw: InstanceType<typeof RootRedis>): Promise<void> {
  console.log('\n── L2 hits: every call misses the process and reads Redis ──')
  const bench5 = new BenchRedis(url)
  const mr = await memoredis(url, 'l2')
  console.log(`  memoredis: ${mr.config}; memoize(getUser, { cache }) on the same cache`)
  // The same cache on bentocache's ioredis 5 (a client passed in is a template: the
  // connection is made by its copy of ioredis), to compare the two libraries on one client.
  const on5 = createCache({ redis: bench5 as unknown as CacheOptions['redis'], prefix: 'bench5', ttl: TTL_MS, l1: false })
  console.log('  memoredis on ioredis 5: the same, with an ioredis 5 client as its template')
  const subjects: Subject[] = [mr, ...(await peersIn(url, 'l2'))]
  const getUser = memoize(async (id: number) => user(id), { cache: mr.cache, name: 'getUser', ttl: TTL_MS })
  const workers = Math.max(1, WORKERS)
  for (let w = 0; w < workers; w++) {
    await raw.set(`floor:${w}`, superjson.stringify(user(w)))
    await getUser(w)
    for (const s of subjects) await s.getOrSet(`l2:${w}`, async () => user(w))
    await on5.getOrSet(`l2:${w}`, async () => user(w))
  }
  for (const s of subjects) console.log(`  ${s.library} read back: ${faithful(await s.getOrSet('l2:0', fail))}`)
  const floor = `floor: ioredis ${rootRedisVersion} GET + superjson.parse`
  const parsed = (client: BenchRedis) => async (w: number) => superjson.parse((await client.get(`floor:${w}`)) as string)
  const cases: Case[] = [
    { name: floor, op: parsed(raw) },
    { name: `  the same with ioredis 5 (bentocache's client)`, op: parsed(bench5) },
    { name: `memoredis getOrSet('l2:<n>')`, op: (w) => mr.getOrSet(`l2:${w}`, fail) },
    { name: `  memoredis on ioredis 5, getOrSet('l2:<n>')`, op: (w) => on5.getOrSet(`l2:${w}`, fail) },
    { name: 'memoredis memoize getUser(<n>)', op: (w) => getUser(w) },
    ...subjects.slice(1).map((s) => ({ name: `${s.library} getOrSet`, op: (w: number) => s.getOrSet(`l2:${w}`, fail) })),
  ]
  const one = table('L2 hit, one call at a time', await measure(cases), floor)
  const many = table(`L2 hit, ${workers} concurrent callers on keys of their own (wall time / calls)`, await measure(cases.map((c) => ({ ...c, workers }))), floor)
  const [mr1, bento1, cm1] = ['memoredis getOrSet', 'bentocache', 'cache-manager'].map((p) => byPrefix(one, p))
  const [mrN, bentoN, cmN] = ['memoredis getOrSet', 'bentocache', 'cache-manager'].map((p) => byPrefix(many, p))
  summary.push(
    `L2 hit, one call at a time: memoredis ${ratioText(mr1)} floor (memoize ${ratioText(byPrefix(one, 'memoredis memoize'))}; on ioredis 5 like bentocache: ${ratioText(byPrefix(one, '  memoredis on ioredis 5'))}, its floor ${ratioText(byPrefix(one, '  the same with ioredis 5'))}), bentocache ${ratioText(bento1)} floor, cache-manager ${ratioText(cm1)} floor, target ≤ 1.15x and ≤ bentocache  ${verdict(mr1 !== undefined && mr1 <= 1.15 && (bento1 === undefined || mr1 <= bento1))}`,
    `L2 hit, ${workers} concurrent: memoredis ${ratioText(mrN)} floor (memoize ${ratioText(byPrefix(many, 'memoredis memoize'))}), bentocache ${ratioText(bentoN)} floor, cache-manager ${ratioText(cmN)} floor, target ≤ 1.4x  ${verdict(mrN !== undefined && mrN <= 1.4)}`,
  )
  await Promise.all([...subjects.map((s) => s.close()), on5.close()])
  bench5.disconnect()
}

interface ColdMiss extends Case {
  label: string
  /** How many keys ran the function exactly once, of how many; undefined for the floor (no function). */
  check(): { text: string; exact: boolean } | undefined
}

/** One cold-miss case: each op is `MISS_CALLERS` concurrent calls on keys never used before; counts the function's runs per key. */
function coldMisses(label: string, name: string, call: (key: string, fn: () => Promise<unknown>) => Promise<unknown>): ColdMiss {
  const value = user(1)
  const runs = new Map<string, number>()
  let batch = 0
  const op = (): Promise<unknown> => {
    const b = batch++
    return Promise.all(
      Array.from({ length: MISS_CALLERS }, (_, i) => {
        const key = `miss:${label}:${b}:${i}`
        return call(key, async () => (runs.set(key, (runs.get(key) ?? 0) + 1), value))
      }),
    )
  }
  const check = (): { text: string; exact: boolean } | undefined => {
    if (runs.size === 0) return undefined
    const keys = batch * MISS_CALLERS
    const once = [...runs.values()].filter((n) => n === 1).length
    return { text: `${keys} keys, the function ran exactly once for ${once}` + (once === keys ? '' : `; ${keys - once} keys ran it 0 or 2+ times`), exact: once === keys }
  }
  return { label, name, op, calls: MISS_CALLERS, check }
}

/** The Redis commands one cold key costs, all clients together (script bodies included), from 4 more batches of `c`. */
async function commandsPerKey(raw: InstanceType<typeof RootRedis>, c: ColdMiss): Promise<string> {
  const before = await commandCounts(raw)
  for (let i = 0; i < 4; i++) await c.op(0)
  const keys = 4 * MISS_CALLERS
  const each = [...(await commandCounts(raw))]
    .map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / keys] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
  const total = each.reduce((sum, [, n]) => sum + n, 0)
  return `${total.toFixed(1)} Redis commands per key: ${each.map(([name, n]) => `${name} ${Number(n.toFixed(2))}`).join(', ')}`
}

async function misses(url: string, raw: InstanceType<typeof RootRedis>): Promise<void> {
  console.log(`\n── Cold misses: ${MISS_CALLERS} concurrent callers on distinct fresh keys, the function returns at once ──`)
  const mr = await memoredis(url, 'full', 'bench-miss')
  console.log(`  memoredis: ${mr.config}; the cross-process lock is taken for every key`)
  const peers = await peersIn(url, 'full')
  const floor = `floor: ioredis ${rootRedisVersion} GET, then SET PX (superjson)`
  const cases = [
    coldMisses('floor', floor, async (key) => {
      if ((await raw.get(key)) === null) await raw.set(key, superjson.stringify(user(1)), 'PX', TTL_MS)
    }),
    ...[mr, ...peers].map((s) => coldMisses(s.library, `${s.library} getOrSet`, (key, fn) => s.getOrSet(key, fn))),
  ]
  const ratios = table('Cold miss, per key (wall time / keys)', await measure(cases), floor)
  for (const c of cases) console.log(`  ${c.label.padEnd(14)} ${c.check()?.text ?? '(no function)'}`)
  for (const c of cases) console.log(`  ${c.label.padEnd(14)} ${await commandsPerKey(raw, c)}`)
  const [m, b, cm] = ['memoredis', 'bentocache', 'cache-manager'].map((p) => byPrefix(ratios, p))
  const onceEach = cases[1]?.check()?.exact ?? false
  summary.push(
    `cold miss, ${MISS_CALLERS} concurrent: memoredis ${ratioText(m)} floor, bentocache ${ratioText(b)} floor, cache-manager ${ratioText(cm)} floor, target ≤ 1.8x and < bentocache, once per key  ${verdict(m !== undefined && m <= 1.8 && (b === undefined || m < b) && onceEach)}`,
  )
  await Promise.all([mr, ...peers].map((s) => s.close()))
}

const query = (id: number): { userId: number; include: string[]; locale: string } => ({ userId: id, include: ['profile', 'teams'], locale: 'en' })
interface AsyncCacheDedupe {
  createCache(o: { ttl: number; storage: { type: 'memory' } }): { define(name: string, fn: (id: number) => Promise<unknown>): Record<string, (id: number) => Promise<unknown>> }
}
interface Cachified {
  cachified<T>(o: { key: string; cache: LRUCache<string, object>; getFreshValue: () => Promise<T>; ttl: number }): Promise<T>
}

/** L1-only peers (no Redis layout): async-cache-dedupe and cachified, as informative rows. */
async function memoryOnlyPeers(): Promise<Case[]> {
  const cases: Case[] = []
  const acd = await peer<AsyncCacheDedupe>('async-cache-dedupe')
  if (acd !== undefined) {
    const c = acd.createCache({ ttl: 3600, storage: { type: 'memory' } }).define('getUser', async (id: number) => user(id))
    await c.getUser?.(42)
    cases.push({ name: 'async-cache-dedupe define (memory only)', op: () => c.getUser?.(42) })
  }
  const cf = await peer<Cachified>('@epic-web/cachified')
  if (cf !== undefined) {
    const store = new LRUCache<string, object>({ max: 10_000 })
    const get = (): Promise<unknown> => cf.cachified({ key: 'user:42', cache: store, getFreshValue: async () => user(42), ttl: TTL_MS })
    await get()
    cases.push({ name: 'cachified over lru-cache (memory only)', op: get })
  }
  return cases
}

async function l1Hits(url: string): Promise<void> {
  console.log('\n── L1 hits: answered in the process ──')
  const mr = await memoredis(url, 'full', 'bench-l1')
  console.log(`  memoredis: ${mr.config}`)
  const peers = await peersIn(url, 'full')
  const lru = new LRUCache<string, object>({ max: 10_000 })
  const arg = query(42)
  lru.set('user:42', user(42))
  lru.set(JSON.stringify([arg]), user(42))
  const getUser = memoize(async (id: number) => user(id), { cache: mr.cache, name: 'getUser', ttl: TTL_MS })
  const fetchUser = memoize(async (q: { userId: number }) => user(q.userId), { cache: mr.cache, name: 'fetchUser', ttl: TTL_MS })
  for (const s of [mr, ...peers]) await s.getOrSet('user:42', async () => user(42))
  await getUser(42)
  await fetchUser(arg)
  const hits = mr.cache.stats().l1.hits
  await Promise.all([getUser(42), fetchUser(arg), mr.getOrSet('user:42', fail)])
  console.log(`  memoredis: ${mr.cache.stats().l1.hits - hits} of 3 warm calls were L1 hits`)
  const floor = "floor: await lru.get('user:42')"
  const floorJson = 'floor: await lru.get(JSON.stringify([query]))'
  const cases: Case[] = [
    { name: floor, op: () => Promise.resolve(lru.get('user:42')) },
    { name: "  lru.get('user:42'), synchronous (no promise)", op: () => lru.get('user:42'), sync: true },
    { name: 'memoredis memoize getUser(42)', op: () => getUser(42) },
    { name: "memoredis getOrSet('user:42')", op: () => mr.getOrSet('user:42', fail) },
    { name: floorJson, op: () => Promise.resolve(lru.get(JSON.stringify([arg]))) },
    { name: 'memoredis memoize fetchUser(query object)', op: () => fetchUser(arg) },
    ...peers.map((s) => ({ name: `${s.library} getOrSet('user:42')`, op: () => s.getOrSet('user:42', fail) })),
    ...(await memoryOnlyPeers()),
  ]
  const results = await measure(cases)
  const ratios = table('L1 hit (ratios to the awaited lru-cache get)', results, floor)
  console.log(`  memoize fetchUser(query object) / ${floorJson.slice(7)}: ${results.ratio(cases[5]?.name ?? '', floorJson).toFixed(2)}x`)
  const m = ratios.get("memoredis getOrSet('user:42')")
  const memo = ratios.get('memoredis memoize getUser(42)')
  const [b, cm] = ['bentocache', 'cache-manager'].map((p) => byPrefix(ratios, p))
  const vsMemo = results.ratio("memoredis getOrSet('user:42')", 'memoredis memoize getUser(42)')
  summary.push(
    `L1 hit: memoredis ${ratioText(m)} floor (memoize ${ratioText(memo)}), bentocache ${ratioText(b)} floor, cache-manager ${ratioText(cm)} floor, target ≤ 1.6x  ${verdict(m !== undefined && memo !== undefined && m <= 1.6 && memo <= 1.6)}`,
    `getOrSet('user:42') L1 hit: memoredis ${ratioText(vsMemo)} a memoize() L1 hit, target ≤ 1.2x  ${verdict(vsMemo <= 1.2)}`,
  )
  await Promise.all([mr, ...peers].map((s) => s.close()))
}

async function stampedes(url: string): Promise<void> {
  const { processes, callers, fnMs, rounds } = STAMPEDE
  console.log(`\n── Cold stampede: ${processes} processes × ${callers} callers, one cold key, the function takes ${fnMs} ms, ${rounds} rounds ──`)
  console.log('  each process opens its library in the full layout above; none = no cache (every caller runs the function)')
  console.log('  library        runs per round          all answered after: median   min–max (ms)   values')
  const rows = new Map<FleetLibrary, StampedeRound[]>()
  for (const library of ['none', 'memoredis', 'bentocache', 'cache-manager'] as const) {
    const result = await stampede({ library, url, processes, callers, fnMs, rounds })
    if (result === undefined) continue
    rows.set(library, result)
    const ms = result.map((r) => r.ms)
    const runs = result.map((r) => r.runs)
    const perRound = runs.every((r) => r === runs[0]) ? String(runs[0]) : runs.join(',')
    console.log(
      `  ${library.padEnd(14)} ${perRound.padEnd(23)} ${`${median(ms).toFixed(1)} ms`.padStart(28)}   ${`${Math.min(...ms).toFixed(0)}–${Math.max(...ms).toFixed(0)}`.padStart(12)}   ${result.every((r) => r.ok) ? 'right' : 'WRONG'}`,
    )
  }
  const describe = (library: FleetLibrary): string => {
    const r = rows.get(library)
    if (r === undefined) return `${library} n/a`
    const ms = median(r.map((x) => x.ms))
    const runs = r.map((x) => x.runs)
    return `${library} ${(ms / fnMs).toFixed(2)}x floor (${ms.toFixed(1)} ms, runs per round ${Math.min(...runs)}${Math.max(...runs) === Math.min(...runs) ? '' : `–${Math.max(...runs)}`})`
  }
  const ours = rows.get('memoredis') ?? []
  const met = ours.length > 0 && ours.every((r) => r.runs === 1 && r.ok) && median(ours.map((r) => r.ms)) <= fnMs + 10
  summary.push(
    `cold stampede (floor: the function's ${fnMs} ms): ${describe('memoredis')}, ${describe('bentocache')}, ${describe('cache-manager')}, ${describe('none')} [no cache: the harness's own overhead], target 1 run in every round and median ≤ ${fnMs + 10} ms (${((fnMs + 10) / fnMs).toFixed(2)}x)  ${verdict(met)}`,
  )
}

/** A client other than ioredis, as its floors and memoredis see it. */
interface OtherClient {
  /** Its name in the tables and the summary, and the key prefix of its entries. */
  name: string
  prefix: string
  /** A raw connection for the floor, connected. */
  raw(): Promise<{ get(key: string): Promise<string | null>; setPx(key: string, value: string, ms: number): Promise<unknown>; close(): Promise<unknown> }>
  /** The `redis` option for memoredis: the app's client of this library. */
  template(): CacheOptions['redis']
}

const OTHER_CLIENTS: OtherClient[] = [
  {
    name: 'node-redis',
    prefix: 'nr',
    async raw() {
      const client = createClient({ url: serverUrl })
      await client.connect()
      return { get: (k) => client.get(k), setPx: (k, v, ms) => client.set(k, v, { PX: ms }), close: () => client.close() }
    },
    template: () => createClient({ url: serverUrl }),
  },
  {
    name: 'iovalkey',
    prefix: 'vk',
    async raw() {
      const client = new Valkey(serverUrl)
      await client.ping()
      return { get: (k) => client.get(k), setPx: (k, v, ms) => client.set(k, v, 'PX', ms), close: async () => client.disconnect() }
    },
    template: () => new Valkey(serverUrl, { lazyConnect: true }),
  },
]
let serverUrl = ''

/** memoredis on another client against that client's floors: L2 hits (one call, and concurrent), then cold misses. */
async function otherClient(c: OtherClient): Promise<void> {
  console.log(`\n── ${c.name}: memoredis handed a ${c.name} client, against ${c.name} GET + parse ──`)
  const client = await c.raw()
  const l2 = createCache({ redis: c.template(), prefix: `bench-${c.prefix}`, ttl: TTL_MS, l1: false })
  const workers = Math.max(1, WORKERS)
  for (let w = 0; w < workers; w++) {
    await client.setPx(`${c.prefix}-floor:${w}`, superjson.stringify(user(w)), TTL_MS)
    await l2.getOrSet(`l2:${w}`, async () => user(w))
  }
  const floor = `floor: ${c.name} GET + superjson.parse`
  const cases: Case[] = [
    { name: floor, op: async (w) => superjson.parse((await client.get(`${c.prefix}-floor:${w}`)) as string) },
    { name: `memoredis on ${c.name} getOrSet('l2:<n>')`, op: (w) => l2.getOrSet(`l2:${w}`, fail) },
  ]
  const one = byPrefix(table(`${c.name}: L2 hit, one call at a time`, await measure(cases), floor), 'memoredis')
  const many = byPrefix(table(`${c.name}: L2 hit, ${workers} concurrent callers`, await measure(cases.map((x) => ({ ...x, workers }))), floor), 'memoredis')
  await l2.close()
  const full = createCache({ redis: c.template(), prefix: `bench-${c.prefix}-miss`, ttl: TTL_MS })
  const missFloor = `floor: ${c.name} GET, then SET PX (superjson)`
  const missCases = [
    coldMisses(`${c.prefix}-floor`, missFloor, async (key) => {
      if ((await client.get(key)) === null) await client.setPx(key, superjson.stringify(user(1)), TTL_MS)
    }),
    coldMisses(`${c.prefix}-memoredis`, `memoredis on ${c.name} getOrSet`, (key, fn) => full.getOrSet(key, fn)),
  ]
  const miss = byPrefix(table(`${c.name}: cold miss, per key (wall time / keys)`, await measure(missCases), missFloor), 'memoredis')
  const onceEach = missCases[1]?.check()?.exact ?? false
  summary.push(
    `${c.name} L2 hit, one call at a time: memoredis ${ratioText(one)} its floor, target ≤ 1.15x  ${verdict(one !== undefined && one <= 1.15)}`,
    `${c.name} L2 hit, ${workers} concurrent: memoredis ${ratioText(many)} its floor, target ≤ 1.4x  ${verdict(many !== undefined && many <= 1.4)}`,
    `${c.name} cold miss, ${MISS_CALLERS} concurrent: memoredis ${ratioText(miss)} its floor, target ≤ 1.8x, once per key  ${verdict(miss !== undefined && miss <= 1.8 && onceEach)}`,
  )
  await full.close()
  await client.close()
}

/** Runs `section` and says how long it took. */
async function timed(name: string, section: () => Promise<void>): Promise<void> {
  if (!ONLY.has(name)) return
  const started = Date.now()
  await section()
  console.log(`  (${name}: ${((Date.now() - started) / 1000).toFixed(0)} s)`)
}

const server = await RedisServer.start()
const raw = new RootRedis(server.url)
const started = Date.now()
try {
  console.log(`node ${process.version}; ${ROUNDS} rounds of ${ROUND_MS} ms per case (times: the median round; ratios: the median of the rounds' ratios); value: ${superjson.stringify(user(42)).length} bytes as superjson`)
  await timed('l2', () => l2Hits(server.url, raw))
  await timed('miss', () => misses(server.url, raw))
  await timed('l1', () => l1Hits(server.url))
  await timed('stampede', () => stampedes(server.url))
  serverUrl = server.url
  for (const other of OTHER_CLIENTS) await timed(other.name, () => otherClient(other))
  console.log(`\n── Summary (${((Date.now() - started) / 1000).toFixed(0)} s) ──`)
  for (const line of summary) console.log(line)
} finally {
  raw.disconnect()
  await server.stop()
}
