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
 * median round counts (support.ts). A redis-server of its own is started on a free port
 * and stopped. The libraries are set up as subjects.ts's `l2` layout says.
 *
 * memoredis is the built package (see built.ts). Run: cd bench && npm install && cd .. &&
 * npm run build && node --import tsx bench/tags.ts
 * BENCH_MS sets the length of a round (default 150), BENCH_ROUNDS their number (default 7).
 */
import { RedisServer } from '../spec/support/redis-server.ts'
import { bentocache, memoredis } from './subjects.ts'
import { commandCalls, measure, median, RootRedis, ROUND_MS, ROUNDS, user, type Case } from './support.ts'

const KEYS = 1000
const BIG = 10_000

/** What every library offers here: getOrSet with optional tags, and invalidating a tag. */
interface Subject {
  getOrSet(key: string, factory: () => Promise<unknown>, tags?: string[]): Promise<unknown>
  invalidate(tag: string): Promise<unknown>
  close(): Promise<unknown>
}

/** memoredis with `l1: false` (subjects.ts, layout l2), with tags. */
async function memoredisTagged(url: string): Promise<Subject> {
  const { cache, close } = await memoredis(url, 'l2')
  return {
    getOrSet: (key, factory, tags) => cache.getOrSet(key, factory, tags === undefined ? undefined : { tags }),
    invalidate: (tag) => cache.invalidateTags([tag]),
    close,
  }
}

/** bentocache with its Redis driver only (subjects.ts, layout l2), with tags; undefined when not installed. */
async function bentocacheTagged(url: string): Promise<Subject | undefined> {
  const subject = await bentocache(url, 'l2')
  if (subject === undefined) return undefined
  const { bento, close } = subject
  return {
    getOrSet: (key, factory, tags) => bento.getOrSet({ key, factory, ttl: '10m', tags }),
    invalidate: (tag) => bento.deleteByTag({ tags: [tag] }),
    close,
  }
}

const server = await RedisServer.start()
const raw = new RootRedis(server.url)
try {
  const subjects: [string, Subject][] = [['memoredis', await memoredisTagged(server.url)]]
  const bento = await bentocacheTagged(server.url)
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
  // Each key in turn: op i reads key i % KEYS (one counter per case).
  const cycling = (name: string, op: (i: number) => Promise<unknown>): Case => {
    let i = 0
    return { name, op: () => op(i++ % KEYS) }
  }
  const cases: Case[] = [{ name: 'floor: ioredis GET', op: () => raw.getBuffer('floor') }]
  for (const [name, s] of subjects) {
    cases.push(cycling(`${name} untagged`, (i) => s.getOrSet(`u${i}`, fail)))
    cases.push(cycling(`${name} tagged`, (i) => s.getOrSet(`t${i}`, fail, ['tenant:1', `user:${i}`])))
  }
  const hits = await measure(cases)
  console.log(`\nL2 hit, one call at a time (median of ${ROUNDS} rounds of ${ROUND_MS} ms; ratios: median of the rounds' ratios)`)
  for (const name of hits.names) {
    console.log(`  ${name.padEnd(26)} ${(hits.ns(name) / 1000).toFixed(1).padStart(7)} µs/op  ${hits.ratio(name, 'floor: ioredis GET').toFixed(2).padStart(5)}x the floor`)
  }
  for (const [name] of subjects) {
    const ratio = hits.ratio(`${name} tagged`, `${name} untagged`)
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
