import { expect } from 'chai'
import { type Cache, type Memoized } from 'memoredis'
import { Envelope, superjsonCodec, type Entry } from '../../lib/codec/envelope.ts'
import { deferred, openedCaches } from '../fixtures/stampede-helpers.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'
import { KeyLayout } from '../../lib/keys/layout.ts'

/**
 * An invalidation wins against a computation already running. The function reads
 * version 1 of a row and is held there; the row moves to version 2 and the app
 * invalidates (delete, `fn.invalidate`, a tag, `clear()`), from the same cache or from
 * another one on the same Redis; then the function returns version 1. The caller that
 * started it gets version 1 (it asked before the invalidation), but nobody is ever
 * served version 1 afterwards: not this cache, not the other, and Redis holds nothing
 * that a reader would take for valid.
 */

interface Row {
  version: number
}

/** The row in the database and every run of the loader, held at its first run until `release()`. */
interface Database {
  version: number
  /** `${cache}:v${version}` per run, in order. */
  readonly runs: string[]
  /** Resolves when the first run has read the row and is held. */
  readonly started: Promise<void>
  release(): void
  /** The loader as seen from the cache named `who`. */
  loader(who: string): (id: number) => Promise<Row>
}

function database(): Database {
  const started = deferred<void>()
  const released = deferred<void>()
  let first = true
  const db: Database = {
    version: 1,
    runs: [],
    started: started.promise,
    release: () => released.resolve(),
    loader: (who) => async (id: number): Promise<Row> => {
      expect(id).to.equal(1)
      const version = db.version
      db.runs.push(`${who}:v${version}`)
      if (first) {
        first = false
        started.resolve()
        await released.promise
      }
      return { version }
    },
  }
  return db
}

/** How the row is cached: a memoized function or `getOrSet` with a key. */
interface Subject {
  read(cache: Cache): Promise<Row>
  peek(cache: Cache): Promise<Row | undefined>
  /** The entry's full Redis key. */
  readonly key: string
}

type SubjectKind = 'memoize' | 'getOrSet'

function subject(kind: SubjectKind, db: Database, caches: Record<string, Cache>, prefix: string): Subject & { fn(cache: Cache): Memoized<[number], Row> } {
  const fns = new Map<Cache, Memoized<[number], Row>>()
  for (const [who, cache] of Object.entries(caches)) {
    fns.set(cache, cache.memoize(db.loader(who), { name: 'loadRow', tags: ([id]) => [`row:${id}`] }))
  }
  const fn = (cache: Cache): Memoized<[number], Row> => fns.get(cache) as Memoized<[number], Row>
  const whoOf = (cache: Cache): string => Object.entries(caches).find(([, c]) => c === cache)?.[0] as string
  if (kind === 'memoize') {
    return { fn, read: (c) => fn(c)(1), peek: (c) => fn(c).peek(1), key: fn(Object.values(caches)[0] as Cache).keyFor(1) }
  }
  return {
    fn,
    read: (c) => c.getOrSet('row:1', () => db.loader(whoOf(c))(1), { tags: ['row:1'] }),
    peek: (c) => c.get<Row>('row:1'),
    key: `${prefix}:default:row:1`,
  }
}

/** One way to invalidate the row, and whether it works by key (delete) or by stamp (tags, clear). */
interface Race {
  name: string
  subject: SubjectKind
  by: 'key' | 'stamp'
  invalidate(s: ReturnType<typeof subject>, cache: Cache): Promise<void>
}

const races: Race[] = [
  { name: 'fn.invalidate(1)', subject: 'memoize', by: 'key', invalidate: (s, c) => s.fn(c).invalidate(1) },
  { name: 'cache.delete(key)', subject: 'getOrSet', by: 'key', invalidate: (_s, c) => c.delete('row:1') },
  { name: 'invalidateTags of a memoized entry', subject: 'memoize', by: 'stamp', invalidate: (_s, c) => c.invalidateTags(['row:1']) },
  { name: 'invalidateTags of a getOrSet entry', subject: 'getOrSet', by: 'stamp', invalidate: (_s, c) => c.invalidateTags(['row:1']) },
  { name: 'cache.clear() of a memoized entry', subject: 'memoize', by: 'stamp', invalidate: (_s, c) => c.clear() },
  { name: 'cache.clear() of a getOrSet entry', subject: 'getOrSet', by: 'stamp', invalidate: (_s, c) => c.clear() },
  { name: 'fn.clear()', subject: 'memoize', by: 'stamp', invalidate: (s, c) => s.fn(c).clear() },
]

const envelope = new Envelope({
  codec: superjsonCodec,
  signingKeys: [],
  maxValueSize: 8 << 20,
  compressThreshold: Infinity,
  maxDecompressedSize: 32 << 20,
  strictClasses: false,
  onUnregisteredClass: () => {},
})

/** The value stored under `key`, decoded, with whether a reader would take it as valid (created after every stamp of its tags). */
async function stored(t: TopologyHandle, prefix: string, key: string): Promise<{ entry: Entry; servable: boolean } | undefined> {
  const bytes = await t.client.getBuffer(key)
  if (bytes === null) return undefined
  const entry = envelope.decode(bytes)
  // A stamp never set counts as its bucket's floor (see TagStamps).
  const layout = new KeyLayout(prefix)
  const stamps = await Promise.all(entry.tags.map(async (id) => Number((await t.client.get(layout.stampKey(id))) ?? (await t.client.get(layout.floorKey(id))) ?? Infinity)))
  return { entry, servable: stamps.every((stamp) => stamp < entry.created) }
}

/** Runs the race: `a` computes version 1, `by` invalidates meanwhile; resolves with what `a`'s caller got. */
async function race(w: { db: Database; s: ReturnType<typeof subject>; a: Cache }, invalidate: () => Promise<void>): Promise<Row> {
  const first = w.s.read(w.a)
  await w.db.started
  w.db.version = 2
  await invalidate()
  w.db.release()
  return first
}

describe('an invalidation wins against a computation already running', () => {
  let n = 0
  const open = openedCaches()

  eachTopology((t) => {
    for (const r of races) {
      for (const from of ['the same cache', 'another cache'] as const) {
        it(`${r.name} from ${from}: the caller gets v1, nobody is served v1 after it`, async () => {
          const prefix = `race${++n}`
          const a = open({ redis: t.redis(), prefix })
          const b = open({ redis: t.redis(), prefix })
          const db = database()
          const s = subject(r.subject, db, { a, b }, prefix)

          const got = await race({ db, s, a }, () => r.invalidate(s, from === 'the same cache' ? a : b))
          expect(got, 'the caller that started the computation').to.deep.equal({ version: 1 })

          // Nothing a reader would take for valid holds version 1.
          const after = await stored(t, prefix, s.key)
          if (r.by === 'key') expect(after, 'Redis after the delete').to.equal(undefined)
          else expect(after === undefined || !after.servable, 'Redis holds a servable v1').to.equal(true)
          expect(await s.peek(a), 'a peeks').to.equal(undefined)
          expect(await s.peek(b), 'b peeks').to.equal(undefined)

          expect(await s.read(a), 'a reads again').to.deep.equal({ version: 2 })
          expect(await s.read(b), 'b reads').to.deep.equal({ version: 2 })
          expect(await s.read(a), 'a reads from L1').to.deep.equal({ version: 2 })
          expect(db.runs, 'the loader runs').to.deep.equal(['a:v1', 'a:v2'])
          const last = await stored(t, prefix, s.key)
          expect(last?.entry.value, 'Redis at the end').to.deep.equal({ version: 2 })
          expect(last?.servable, 'the v2 in Redis is valid').to.equal(true)
        })
      }
    }
  })

  describe('without Redis (L1 only)', () => {
    for (const r of races.filter((x) => x.by === 'key')) {
      it(`${r.name}: the caller gets v1, later calls get v2`, async () => {
        const a = open({})
        const db = database()
        const s = subject(r.subject, db, { a }, 'memoredis')
        const got = await race({ db, s, a }, () => r.invalidate(s, a))
        expect(got, 'the caller that started the computation').to.deep.equal({ version: 1 })
        expect(await s.peek(a), 'peek after the race').to.equal(undefined)
        expect(await s.read(a), 'the next call').to.deep.equal({ version: 2 })
        expect(await s.read(a), 'an L1 hit').to.deep.equal({ version: 2 })
        expect(db.runs).to.deep.equal(['a:v1', 'a:v2'])
      })
    }
  })
})
