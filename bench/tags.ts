/**
 * Tags, measured beside bentocache's tags in the same run:
 *
 *   L2 hit       getOrSet answered from Redis (no L1), untagged vs tagged (two tags), for
 *                memoredis and bentocache, with the floor: an ioredis GET of the same bytes.
 *                The ratio tagged/untagged is the figure to read: memoredis keeps tag stamps
 *                in process (coherent through client tracking), so a tagged hit is still one
 *                round trip. Target: ≤ 1.1x.
 *   invalidate   one tag over 10,000 keys: how long the call takes, the Redis commands it
 *                sends (INFO commandstats, commands run inside a script included), and how
 *                long reading the 10,000 keys back takes (each one a miss that recomputes).
 *
 * Each case is warmed up, then measured in rounds alternating between the cases; the
 * median round counts. A redis-server of its own is started on a free port and stopped.
 *
 * Run: cd bench && npm install && cd .. && node --conditions=source --import tsx bench/tags.ts
 * BENCH_MS sets the length of a round (default 300), BENCH_ROUNDS their number (default 7).
 */
import { Redis } from 'ioredis'
import { createCache } from '../lib/index.ts'
import { RedisServer } from '../spec/support/redis-server.ts'

const ROUND_MS = Number(process.env.BENCH_MS ?? 300)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const KEYS = 1000
const BIG = 10_000

/** A user record with a Date, like a row from a database. */
const user = (id: number): Record<string, unknown> => ({
  id,
  name: 'Ada Lovelace',
  createdAt: new Date('2020-01-02T03:04:05Z'),
  roles: ['admin', 'editor'],
  prefs: { theme: 'dark', digest: true },
})

/** What every library offers here: getOrSet with optional tags, and invalidating a tag. */
interface Subject {
  getOrSet(key: string, factory: () => Promise<unknown>, tags?: string[]): Promise<unknown>
  invalidate(tag: string): Promise<unknown>
  close(): Promise<unknown>
}

interface Bento {
  getOrSet(o: { key: string; factory: () => Promise<unknown>; ttl: string; tags?: string[] }): Promise<unknown>
  deleteByTag(o: { tags: string[] }): Promise<boolean>
  disconnectAll(): Promise<void>
}
interface BentoModule {
  BentoCache: new (options: unknown) => Bento
  bentostore: () => { useL2Layer(d: unknown): unknown }
}

async function memoredis(url: string): Promise<Subject> {
  const cache = createCache({ redis: url, prefix: 'bench', l1: false, ttl: '10m' })
  return {
    getOrSet: (key, factory, tags) => cache.getOrSet(key, factory, tags === undefined ? undefined : { tags }),
    invalidate: (tag) => cache.invalidateTags([tag]),
    close: () => cache.close(),
  }
}

async function bentocache(url: string): Promise<Subject | undefined> {
  let mod: BentoModule
  let drivers: Record<string, (o: unknown) => unknown>
  // Loaded by name: a peer, present only after `cd bench && npm install`.
  const load = (name: string): Promise<unknown> => import(name)
  try {
    mod = (await load('bentocache')) as BentoModule
    drivers = (await load('bentocache/drivers/redis')) as Record<string, (o: unknown) => unknown>
  } catch {
    console.log('  (bentocache is not installed: cd bench && npm install)')
    return undefined
  }
  const { hostname: host, port } = new URL(url)
  const store = mod.bentostore().useL2Layer(drivers.redisDriver?.({ connection: { host, port: Number(port) } }))
  const bento = new mod.BentoCache({ default: 'cache', stores: { cache: store } })
  return {
    getOrSet: (key, factory, tags) => bento.getOrSet({ key, factory, ttl: '10m', tags }),
    invalidate: (tag) => bento.deleteByTag({ tags: [tag] }),
    close: () => bento.disconnectAll(),
  }
}

/** Runs `op` one call at a time for about `ms`; returns microseconds per call. */
async function round(op: (i: number) => Promise<unknown>, ms: number): Promise<number> {
  const started = performance.now()
  let calls = 0
  do {
    for (let i = 0; i < 50; i++) await op(calls + i)
    calls += 50
  } while (performance.now() - started < ms)
  return ((performance.now() - started) * 1000) / calls
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN

async function measure(cases: [string, (i: number) => Promise<unknown>][]): Promise<Map<string, number>> {
  for (const [, op] of cases) await round(op, Math.max(200, ROUND_MS))
  const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]))
  for (let r = 0; r < ROUNDS; r++) for (const [name, op] of cases) samples.get(name)?.push(await round(op, ROUND_MS))
  return new Map([...samples].map(([name, xs]) => [name, median(xs)]))
}

async function commandCalls(client: Redis): Promise<number> {
  const info = await client.info('commandstats')
  let total = 0
  for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) if (name !== 'info') total += Number(calls)
  return total
}

const server = await RedisServer.start()
const raw = new Redis(server.url)
try {
  const subjects: [string, Subject][] = [['memoredis', await memoredis(server.url)]]
  const bento = await bentocache(server.url)
  if (bento !== undefined) subjects.push(['bentocache', bento])

  // ── L2 hits ──
  const fail = async (): Promise<never> => {
    throw new Error('a hit was expected')
  }
  for (const [, s] of subjects) {
    for (let i = 0; i < KEYS; i++) {
      await s.getOrSet(`u${i}`, async () => user(i))
      await s.getOrSet(`t${i}`, async () => user(i), ['tenant:1', `user:${i}`])
    }
  }
  await raw.set('floor', JSON.stringify(user(1)))
  const cases: [string, (i: number) => Promise<unknown>][] = [['floor: ioredis GET', () => raw.getBuffer('floor')]]
  for (const [name, s] of subjects) {
    cases.push([`${name} untagged`, (i) => s.getOrSet(`u${i % KEYS}`, fail)])
    cases.push([`${name} tagged`, (i) => s.getOrSet(`t${i % KEYS}`, fail, ['tenant:1', `user:${i % KEYS}`])])
  }
  const hits = await measure(cases)
  const floor = hits.get('floor: ioredis GET') ?? Number.NaN
  console.log(`\nL2 hit, one call at a time (median of ${ROUNDS} rounds of ${ROUND_MS} ms)`)
  for (const [name, us] of hits) console.log(`  ${name.padEnd(26)} ${us.toFixed(1).padStart(7)} µs/op  ${(us / floor).toFixed(2).padStart(5)}x the floor`)
  for (const [name] of subjects) {
    const ratio = (hits.get(`${name} tagged`) ?? Number.NaN) / (hits.get(`${name} untagged`) ?? Number.NaN)
    const mark = name === 'memoredis' ? (ratio <= 1.1 ? '  ✓ ≤ 1.1x' : '  ✗ > 1.1x') : ''
    console.log(`  ${name}: tagged / untagged = ${ratio.toFixed(2)}x${mark}`)
  }

  // ── Invalidating one tag over 10,000 keys ──
  console.log(`\nInvalidating one tag over ${BIG.toLocaleString('en')} keys (median of 3; commands run by a script count too)`)
  for (const [name, s] of subjects) {
    const calls: number[] = []
    const commands: number[] = []
    const rereads: number[] = []
    for (let r = 0; r < 3; r++) {
      let computed = 0
      const fill = async (): Promise<void> => {
        for (let from = 0; from < BIG; from += 500) {
          await Promise.all(Array.from({ length: 500 }, (_, i) => s.getOrSet(`big${r}:${from + i}`, async () => (++computed, user(i)), ['big'])))
        }
      }
      await fill()
      const before = await commandCalls(raw)
      const started = performance.now()
      await s.invalidate('big')
      calls.push(performance.now() - started)
      commands.push((await commandCalls(raw)) - before)
      computed = 0
      const reread = performance.now()
      await fill()
      rereads.push(performance.now() - reread)
      if (computed !== BIG) throw new Error(`${name}: ${computed} of ${BIG} keys recomputed after the invalidation`)
    }
    console.log(
      `  ${name.padEnd(11)} invalidate ${median(calls).toFixed(2).padStart(7)} ms, ${String(median(commands)).padStart(3)} Redis commands;` +
        ` reading the ${BIG.toLocaleString('en')} keys back (all recomputed) ${median(rereads).toFixed(0).padStart(5)} ms`,
    )
  }
  for (const [, s] of subjects) await s.close()
} finally {
  raw.disconnect()
  await server.stop()
}
