/**
 * What the tracing channels cost an L1 hit, measured in one run:
 *
 *   floor                 `await lru.get('user:42')`, as bench/engine.ts's L1 floor (with a
 *                         branch on a plain variable, never taken)
 *   floor + the guard     the same, the branch on the one check the hot path gained
 *                         (`readChannel.hasSubscribers`): the guard's own cost, isolated
 *   no subscriber         a memoize() L1 hit and a getOrSet L1 hit, channels compiled in
 *   with a subscriber     the same memoize() hit with a no-op subscriber on every event of
 *                         `memoredis:read` (start, end, asyncStart, asyncEnd, error)
 *
 * The code before the channels is not in this checkout, so the target (no more than 3%
 * over it with no subscriber) is checked two ways: the guard's cost (floor + guard, less
 * the floor) as a share of a memoize() hit; and the hit's ratio to the floor, printed
 * beside the one bench/engine.ts recorded before the channels (docs/performance.md;
 * another machine and run, so only a rough check). The hot path also passes one more
 * argument (the call's origin), which no case can isolate.
 *
 * L1 only (no Redis): an L1 hit never touches Redis, and the hit path is the same.
 * Cases are warmed up, then measured in rounds that alternate between them (support.ts);
 * times are the median round's, ratios the median of each round's ratio.
 *
 * Run (from the repository root): node --conditions=source --import tsx bench/diagnostics.ts
 * BENCH_MS: length of a round, ms (default 150); BENCH_ROUNDS: rounds per case (default 7).
 */
import { tracingChannel } from 'node:diagnostics_channel'
import { LRUCache } from 'lru-cache'
import { readChannel } from '../lib/observe/diagnostics.ts'
import { channels, createCache, memoize } from '../lib/index.ts'
import { measure, ROUND_MS, ROUNDS, user, type Case } from './support.ts'

/** bench/engine.ts's L1 hit ratios to the same floor before the channels, as docs/performance.md records them. */
const RECORDED = { memoize: 1.28, getOrSet: 1.21 }
const TARGET = 0.03

const fail = async (): Promise<never> => {
  throw new Error('a hit was expected, the function ran')
}
const ns = (x: number): string => `${x.toFixed(1)} ns`

const lru = new LRUCache<string, object>({ max: 10_000 })
lru.set('user:42', user(42))
const cache = createCache({ l1: { max: 10_000 }, ttl: '1h' })
const getUser = memoize(async (id: number) => user(id), { cache, name: 'getUser' })
await getUser(42)
await cache.getOrSet('user:42', async () => user(42))
const hits = cache.stats().l1.hits
await Promise.all([getUser(42), cache.getOrSet('user:42', fail)])
if (cache.stats().l1.hits - hits !== 2) throw new Error('the warm calls were not L1 hits')

let sink = 0
/** Never true: the floor's branch, so that floor and floor + guard differ only in what the branch reads. */
let never = false
const floor = "floor: await lru.get('user:42')"
const guarded = '  floor + readChannel.hasSubscribers'
const memo = 'memoize getUser(42), no subscriber'
const getOrSet = "getOrSet('user:42'), no subscriber"
const cases: Case[] = [
  {
    name: floor,
    op: () => {
      const value = lru.get('user:42')
      if (never) sink++
      return Promise.resolve(value)
    },
  },
  {
    name: guarded,
    op: () => {
      const value = lru.get('user:42')
      if (readChannel.hasSubscribers) sink++
      return Promise.resolve(value)
    },
  },
  { name: memo, op: () => getUser(42) },
  { name: getOrSet, op: () => cache.getOrSet('user:42', fail) },
]

console.log(`node ${process.version}; ${ROUNDS} rounds of ${ROUND_MS} ms per case (times: the median round; ratios: the median of the rounds' ratios)`)
const quiet = await measure(cases)
console.log('\nL1 hit, nobody subscribed')
for (const name of quiet.names) console.log(`  ${name.padEnd(44)} ${ns(quiet.ns(name)).padStart(10)}/call  ${quiet.ratio(name, floor).toFixed(2).padStart(6)}x the floor`)

// Every event of the read channel, with no-op subscribers: what a tracer pays at least.
const read = tracingChannel(channels.read)
let events = 0
const count = (): void => void events++
const subscriber = { start: count, end: count, asyncStart: count, asyncEnd: count, error: count }
read.subscribe(subscriber)
const traced = 'memoize getUser(42), a subscriber on memoredis:read'
const loud = await measure([cases[0] as Case, { name: traced, op: () => getUser(42) }])
read.unsubscribe(subscriber)
never = sink > 0
if (events === 0 || never) throw new Error('the subscriber saw nothing, or the guard saw a subscriber it should not have')
console.log('\nL1 hit, a subscriber on every event of memoredis:read')
for (const name of loud.names) console.log(`  ${name.padEnd(52)} ${ns(loud.ns(name)).padStart(10)}/call  ${loud.ratio(name, floor).toFixed(2).padStart(6)}x the floor`)

const guardNs = quiet.ns(guarded) - quiet.ns(floor)
const share = guardNs / quiet.ns(memo)
const memoRatio = quiet.ratio(memo, floor)
const withRatio = loud.ratio(traced, floor)
console.log('\n── Summary ──')
console.log(
  `no subscriber, the guard: ${ns(guardNs)} per hit (floor + guard ${quiet.ratio(guarded, floor).toFixed(3)}x the floor), ` +
    `${(share * 100).toFixed(1)}% of a memoize() hit (${ns(quiet.ns(memo))}), target ≤ ${TARGET * 100}%  ${share <= TARGET ? 'PASS' : 'MISS'}`,
)
console.log(
  `no subscriber, L1 hit: memoize ${memoRatio.toFixed(2)}x the floor, getOrSet ${quiet.ratio(getOrSet, floor).toFixed(2)}x ` +
    `(engine bench before the channels, docs/performance.md: memoize ${RECORDED.memoize}x, getOrSet ${RECORDED.getOrSet}x; ` +
    `memoize ${(memoRatio / RECORDED.memoize).toFixed(2)}x that)`,
)
console.log(`with a subscriber on memoredis:read: memoize ${withRatio.toFixed(2)}x the floor, ${(withRatio / memoRatio).toFixed(2)}x the hit with none`)
await cache.close()
