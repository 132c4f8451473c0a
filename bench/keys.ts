/**
 * The key encoder on the L1 hot path: a memoized call with one object argument, against
 * its floor, an awaited lru-cache get keyed by `JSON.stringify(args)` (no type tags, key
 * order kept), both measured in the same run. Target: the memoized L1 hit at most 2.0x
 * the floor. The encoder's own steps are timed beside it, each against
 * `JSON.stringify(args)` alone:
 *
 *   encodeArgs(args)            the canonical, type-tagged text
 *   digest(encodeArgs(args))    the key's last segment (raw when short and printable)
 *
 * Arguments: `{ id: 42, locale: 'en' }`, and the query object of engine.ts's L1 table.
 * No Redis: the cache is L1 only. memoredis is the built package (see built.ts). Run
 * (from the repository root): npm run build && node --import tsx bench/keys.ts
 * BENCH_MS sets the length of a round (default 150), BENCH_ROUNDS their number (default 7).
 */
import { LRUCache } from 'lru-cache'
import { createCache, digest, encodeArgs, memoize } from './built.ts'
import { measure, user, type Case } from './support.ts'

const ARGUMENTS: [string, unknown][] = [
  ['{ id: 42, locale }', { id: 42, locale: 'en' }],
  ['query object', { userId: 42, include: ['profile', 'teams'], locale: 'en' }],
]

const cache = createCache({ ttl: '1h' })
const lru = new LRUCache<string, object>({ max: 10_000 })
const lines: string[] = []
let sink = 0

for (const [label, arg] of ARGUMENTS) {
  const args = [arg]
  lru.set(JSON.stringify(args), user(42))
  const fetch = memoize(async (q: unknown) => user(q === undefined ? 0 : 42), { cache, name: `fetch ${label}`, ttl: '1h' })
  await fetch(arg)
  const floor = `floor: await lru.get(JSON.stringify([${label}]))`
  const json = `  JSON.stringify([${label}])`
  const cases: Case[] = [
    { name: floor, op: () => Promise.resolve(lru.get(JSON.stringify(args))) },
    { name: `memoize fetch(${label}), L1 hit`, op: () => fetch(arg) },
    { name: json, op: () => (sink += JSON.stringify(args).length), sync: true },
    { name: `  encodeArgs([${label}])`, op: () => (sink += encodeArgs(args).length), sync: true },
    { name: `  digest(encodeArgs([${label}]))`, op: () => (sink += digest(encodeArgs(args)).length), sync: true },
  ]
  const results = await measure(cases)
  console.log(`\n${label}: ${encodeArgs(args)}`)
  for (const c of cases) {
    const base = c.sync === true ? json : floor
    console.log(`  ${c.name.padEnd(56)} ${results.ns(c.name).toFixed(0).padStart(6)} ns/call  ${results.ratio(c.name, base).toFixed(2)}x ${c.name === base ? '(floor)' : ''}`)
  }
  const ratio = results.ratio(cases[1]?.name ?? '', floor)
  lines.push(`memoize L1 hit with ${label}: ${ratio.toFixed(2)}x await lru.get(JSON.stringify(args)), target ≤ 2.0x  ${ratio <= 2 ? 'PASS' : 'MISS'}`)
}
console.log(`\n── Summary ──\n${lines.join('\n')}`)
if (sink < 0) console.log(sink)
await cache.close()
