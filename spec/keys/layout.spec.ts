import { expect } from 'chai'
import type { Redis } from 'ioredis'
import type { Cache } from '../../lib/cache-types.ts'
import { createCache } from '../../lib/cache.ts'
import type { KeyLayout } from '../../lib/keys/layout.ts'
import { memoize } from '../../lib/memoize/memoize.ts'
import { InvalidOptionError } from '../../lib/errors.ts'
import { namespaceOf, type Namespace } from '../../lib/engine/namespace.ts'
import { slotOf, slotTag } from '../../lib/redis/slot.ts'
import { coreOf } from '../support/internals.ts'
import { mulberry32 } from '../support/random.ts'
import { useRedis } from '../support/redis.ts'

/**
 * Property checks of where things live in Redis (`lib/keys/layout.ts`, `lib/redis/slot.ts`).
 * Every key is made by the real code (a cache's namespaces, `memoize(...).keyFor`, the
 * cache's `KeyLayout`) from adversarial input: text full of `:`, `!`, braces, `%` and
 * escapes, unicode, and pieces of the other layouts. The seed is random per run; set
 * KEY_SPEC_SEED to replay one.
 *
 * Keys are compared as JavaScript strings and as the UTF-8 bytes Redis gets. A user key
 * with a lone surrogate (not well-formed UTF-16) would reach Redis with U+FFFD in its
 * place, so `'k\ud800'` and `'k\udbff'` would be one Redis key: `keyOf` refuses such keys
 * (checked for every generated one), and the corpus carries on with the key made
 * well-formed.
 */

type Random = () => number

function seedFromEnv(): number {
  const fromEnv = process.env.KEY_SPEC_SEED
  return fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)
}

function pick<T>(random: Random, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!
}

/** Separators, internal markers, braces, escapes, look-alikes of other layouts, whitespace, non-ASCII. */
const PIECES = [
  ':', ':', ':', '!', '!', '{', '{', '}', '}', '{}', '}{', '{a}', '%', '%3A', '%21', '%7B', '%7D', '%25', '%u', '%uD800',
  '!lock:', '!tag:', '!bus', '!lock:{0}', 'default', 'default!', ':v1:', '!f:v0:', 'v1', 'v', 'lock', 'tag', 'bus',
  'n:', 't:', 'f:', '*', '#', 's1:a', 'd1;', 'a', 'b', 'Z', '0', '9', '-', '.', '_', ' ', '\t', '\n', '?', '[', ']', '\\',
  'é', 'ß', '名', '😀', '\u00a0', '\u2028', '\ufeff', '\u0000', '\x7f', '\u0085',
]
const LONE_SURROGATES = ['\ud800', '\udbff', '\udc00', '\udfff']
const LONE_SURROGATE = /\p{Cs}/u

/** Adversarial text of 1 to 6 pieces; lone surrogates only when `lone`. */
function text(random: Random, lone: boolean): string {
  let out = ''
  const length = 1 + Math.floor(random() * 6)
  for (let i = 0; i < length; i++) {
    const r = random()
    if (lone && r < 0.04) out += pick(random, LONE_SURROGATES)
    else if (r < 0.12) {
      const point = random() < 0.5 ? 0x80 + Math.floor(random() * 0xff80) : 0x10000 + Math.floor(random() * 0x100000)
      if (lone || point < 0xd800 || point > 0xdfff) out += String.fromCodePoint(point)
    } else out += pick(random, PIECES)
  }
  return out === '' ? 'x' : out
}

/** Prefixes allowed by the `prefix` option (letters, digits, `_ - .`), a few of them look-alikes. */
const PREFIXES = ['memoredis', 'app', 'a.b', '-', 'default', 'x.y-z_0', 'lock']

/** Namespace names besides the generated ones: the root's, and names that imitate separators and markers. */
const NAMESPACES = ['default', 'def', 'defaultx', 'a', 'ab', 'lo', '!lock', '!tag', '!bus', 'lock', '!', ':', '{', '}', '{}', '%21', '%3A', 'default!x', 'a:b', 'x:v1', '%']

/** A key, with the inputs it was made of (two keys may be equal only if these are). */
interface Made {
  key: string
  what: string
}

/**
 * The keys of one prefix, made by the real code. Memoized functions need distinct names
 * in a cache, so a name already in use moves on to a fresh cache of the same prefix
 * (whose layout is the same).
 */
class Maker {
  readonly caches: Cache[] = []
  private root: Cache
  private readonly claimed = new Set<string>()

  constructor(readonly prefix: string) {
    this.root = this.fresh()
  }

  get layout(): KeyLayout {
    return coreOf(this.root).layout
  }

  private fresh(): Cache {
    const cache = createCache({ prefix: this.prefix })
    this.caches.push(cache)
    return cache
  }

  /** The namespace called `name` (the root one for 'default'). */
  namespace(name: string): Namespace {
    const ns = namespaceOf(name === 'default' ? this.root : this.root.namespace(name))
    if (ns === undefined) throw new Error('not a cache made by createCache')
    return ns
  }

  /** User keys refused for a lone surrogate. */
  refused = 0

  value(ns: string, key: string): Made {
    const namespace = this.namespace(ns)
    if (LONE_SURROGATE.test(key)) {
      expect(() => namespace.keyOf(key), JSON.stringify(key)).to.throw(InvalidOptionError, /well-formed/)
      this.refused++
      key = key.replace(/\p{Cs}/gu, '\ufffd')
    }
    return { key: namespace.keyOf(key), what: JSON.stringify(['value', ns, key]) }
  }

  memoized(ns: string, name: string, version: number, args: readonly unknown[]): Made {
    const id = JSON.stringify([ns, name])
    if (this.claimed.has(id)) {
      this.root = this.fresh()
      this.claimed.clear()
    }
    this.claimed.add(id)
    const cache = ns === 'default' ? this.root : this.root.namespace(ns)
    const fn = memoize(async (..._args: unknown[]) => 0, { cache, name, version })
    return { key: fn.keyFor(...args), what: JSON.stringify(['memoized', ns, name, version, args]) }
  }

  lock(of: Made): Made {
    return { key: this.layout.lockKey(of.key), what: JSON.stringify(['lock', of.what]) }
  }

  stamp(id: string): Made {
    return { key: this.layout.stampKey(id), what: JSON.stringify(['stamp', id]) }
  }

  async close(): Promise<void> {
    await Promise.all(this.caches.map((cache) => cache.close()))
  }
}

/** All the keys of one prefix. */
interface Corpus {
  maker: Maker
  values: Made[]
  memoized: Made[]
  /** Locks of the values and the memoized keys, stamps, the bus. */
  internal: Made[]
}

const VERSIONS = [0, 1, 2, 10, 2 ** 31, Number.MAX_SAFE_INTEGER]

function memoArgs(random: Random): unknown[] {
  const args: unknown[] = []
  const count = Math.floor(random() * 3)
  for (let i = 0; i < count; i++) {
    const r = random()
    args.push(r < 0.5 ? text(random, true) : r < 0.8 ? Math.floor(random() * 2000) - 1000 : 'long'.repeat(20))
  }
  return args
}

/** User keys that are pieces of other keys: whole, less the prefix, or from any `:` on. */
function tails(key: string, prefix: string): string[] {
  const out = [key, key.slice(prefix.length + 1)]
  for (let i = key.indexOf(':'); i !== -1; i = key.indexOf(':', i + 1)) out.push(key.slice(i + 1), key.slice(i))
  return out.filter((t) => t !== '')
}

function buildCorpus(prefix: string, random: Random): Corpus {
  const maker = new Maker(prefix)
  const names = [...NAMESPACES, ...Array.from({ length: 16 }, () => text(random, true))]
  const values: Made[] = []
  const memoized: Made[] = []
  const stamps = new Map<string, Made>()
  const addStamp = (id: string): void => void stamps.set(id, maker.stamp(id))
  for (const ns of names) {
    const namespace = maker.namespace(ns)
    for (const id of namespace.scope) addStamp(id)
    addStamp(namespace.clearId)
  }
  for (let n = 0; n < 400; n++) {
    const ns = pick(random, names), name = text(random, true), version = pick(random, VERSIONS)
    memoized.push(maker.memoized(ns, name, version, memoArgs(random)))
    addStamp(maker.namespace(ns).functionScope(name, version).id)
  }
  // `invalidateTags([tag])` stamps the id `t:` + tag.
  for (let n = 0; n < 100; n++) addStamp('t:' + text(random, true))
  const bus: Made = { key: maker.layout.channel, what: JSON.stringify(['bus']) }
  const lookAlikes = [...memoized, ...stamps.values(), bus].flatMap((made) => tails(made.key, prefix))
  for (let n = 0; n < 1_200; n++) {
    const key = random() < 0.25 ? pick(random, lookAlikes) : text(random, true)
    values.push(maker.value(pick(random, names), key))
  }
  // Pairs that would run together without a separator: ('ab', 'c…'), ('a', 'bc…'), ('abc', '…').
  for (let n = 0; n < 100; n++) {
    const ns = pick(random, ['ab', 'def', 'default', 'lock', 'x']), key = text(random, true)
    values.push(maker.value(ns, key), maker.value(ns.slice(0, -1) || 'default', ns.slice(-1) + key))
    if (key.length > 1 && /^[a-z]$/.test(key[0]!)) values.push(maker.value(ns + key[0], key.slice(1)))
  }
  // Value keys look like lock keys' tails too: a lock key less its `{tag}`.
  for (const made of values.slice(0, 100)) {
    const lock = maker.layout.lockKey(made.key)
    values.push(maker.value(pick(random, names), lock.slice(lock.indexOf('}') + 1)))
  }
  const internal = [...values.map((v) => maker.lock(v)), ...memoized.map((m) => maker.lock(m)), ...stamps.values(), bus]
  return { maker, values, memoized, internal }
}

/** What Redis gets for a key: its UTF-8 bytes. */
const bytes = (key: string): string => Buffer.from(key, 'utf8').toString('latin1')

/** Fails when two keys are equal (as strings, or as bytes when both are well-formed) but made of different inputs. */
function expectDistinct(groups: readonly (readonly Made[])[], where: string): number {
  const byKey = new Map<string, string>()
  const byBytes = new Map<string, string>()
  let checked = 0
  for (const group of groups) {
    for (const made of group) {
      const earlier = byKey.get(made.key)
      if (earlier !== undefined) expect(made.what, `${JSON.stringify(made.key)} is both ${earlier} and ${made.what}; ${where}`).to.equal(earlier)
      byKey.set(made.key, made.what)
      if (LONE_SURROGATE.test(made.key)) continue
      const sent = bytes(made.key)
      const earlierSent = byBytes.get(sent)
      if (earlierSent !== undefined) expect(made.what, `Redis gets one key for ${earlierSent} and ${made.what}; ${where}`).to.equal(earlierSent)
      byBytes.set(sent, made.what)
      checked++
    }
  }
  return checked
}

describe('key layout', () => {
  const seed = seedFromEnv()
  const where = `seed ${seed} (KEY_SPEC_SEED=${seed} to replay)`
  const corpora: Corpus[] = []

  before(function () {
    this.timeout(60_000)
    const random = mulberry32(seed)
    for (const prefix of PREFIXES) corpora.push(buildCorpus(prefix, random))
  })

  after(async () => {
    await Promise.all(corpora.map((c) => c.maker.close()))
  })

  it('generates a corpus that reaches every shape it claims to test', () => {
    const values = corpora.flatMap((c) => c.values.map((v) => v.key.slice(c.maker.prefix.length + 1)))
    const count = (test: (key: string) => boolean): number => values.filter(test).length
    expect(values.length).to.be.above(10_000)
    expect(count((k) => /\{[^}]+\}/.test(k)), 'hash tags').to.be.above(500)
    expect(count((k) => k.includes('{}')), 'empty hash tags').to.be.above(200)
    expect(count((k) => k.includes('!lock:')), 'lock look-alikes').to.be.above(300)
    expect(count((k) => k.includes('!tag:')), 'stamp look-alikes').to.be.above(300)
    expect(count((k) => /[\u0080-\uffff]/.test(k)), 'non-ASCII').to.be.above(3_000)
    expect(corpora.reduce((sum, c) => sum + c.maker.refused, 0), 'keys with a lone surrogate, refused').to.be.above(500)
    expect(count((k) => LONE_SURROGATE.test(k)), 'keys with a lone surrogate, kept').to.equal(0)
    expect(corpora.flatMap((c) => c.memoized).filter((m) => m.key.includes(':#')).length, 'hashed digests').to.be.above(500)
  })

  it('never gives a user key the key of a lock, a stamp or the bus, in any namespace', () => {
    for (const { maker, values, internal } of corpora) {
      const internalKeys = new Set(internal.map((m) => m.key))
      const internalBytes = new Set(internal.map((m) => bytes(m.key)))
      for (const value of values) {
        const context = `${value.what} is ${JSON.stringify(value.key)}; ${where}`
        expect(internalKeys.has(value.key), context).to.equal(false)
        expect(internalBytes.has(bytes(value.key)), context).to.equal(false)
        expect(value.key.startsWith(`${maker.prefix}:!`), context).to.equal(false)
        expect(maker.layout.valueKeyOfLock(value.key), context).to.equal(undefined)
      }
    }
  })

  it('gives different (namespace, user key) pairs different value keys', () => {
    const checked = corpora.reduce((sum, c) => sum + expectDistinct([c.values], `prefix ${c.maker.prefix}, ${where}`), 0)
    expect(checked).to.be.above(8_000)
  })

  it('never lets a user key collide with a memoized function key, in the same or another namespace', () => {
    for (const c of corpora) expectDistinct([c.values, c.memoized], `prefix ${c.maker.prefix}, ${where}`)
  })

  it('gives every key, user, memoized or internal, to one set of inputs only', () => {
    for (const c of corpora) expectDistinct([c.values, c.memoized, c.internal], `prefix ${c.maker.prefix}, ${where}`)
  })

  it('gives different value keys different lock keys, and valueKeyOfLock(lockKey(k)) is k', () => {
    for (const { maker, values, memoized } of corpora) {
      const locks = new Map<string, string>()
      for (const made of [...values, ...memoized]) {
        const lock = maker.layout.lockKey(made.key)
        const context = `${made.what}: ${JSON.stringify(made.key)} → ${JSON.stringify(lock)}; ${where}`
        expect(maker.layout.valueKeyOfLock(lock), context).to.equal(made.key)
        expect(lock.startsWith(maker.layout.lockPrefix), context).to.equal(true)
        const earlier = locks.get(lock)
        if (earlier !== undefined) expect(made.key, context).to.equal(earlier)
        locks.set(lock, made.key)
      }
    }
  })

  it('puts every lock key in its value key\'s hash slot, hash tags, braces and non-ASCII included', () => {
    for (const { maker, values, memoized } of corpora) {
      for (const made of [...values, ...memoized]) {
        const lock = maker.layout.lockKey(made.key)
        expect(slotOf(lock), `${made.what}: ${JSON.stringify(made.key)} → ${JSON.stringify(lock)}; ${where}`).to.equal(slotOf(made.key))
      }
    }
  })

  it('cannot be made to name an internal or memoized key, or another value key, by choosing a namespace and a user key', function () {
    this.timeout(60_000)
    let tried = 0
    for (const { maker, memoized, internal, values } of corpora) {
      const everyColon = [...memoized, ...internal, ...values.slice(0, 300)]
      const everyChar = [...memoized.slice(0, 100), ...internal.filter((_, i) => i % 40 === 0), ...values.slice(0, 150)]
      for (const [targets, splits] of [[everyColon, colonSplits], [everyChar, charSplits]] as const) {
        for (const target of targets) {
          expect(target.key.startsWith(`${maker.prefix}:`)).to.equal(true)
          for (const [nsText, key] of splits(target.key.slice(maker.prefix.length + 1))) {
            for (const ns of new Set([nsText, unescaped(nsText)])) {
              const forged = maker.value(ns, key)
              if (forged.key === target.key) expect(forged.what, `${forged.what} names ${target.what}; ${where}`).to.equal(target.what)
              tried++
            }
          }
        }
      }
    }
    expect(tried).to.be.above(150_000)
  })
})

/**
 * Ways to read `rest` (a key less `${prefix}:`) as a namespace and a user key: at every
 * `:`, the namespace before it and the key after it.
 */
function colonSplits(rest: string): [string, string][] {
  const out: [string, string][] = []
  for (let i = rest.indexOf(':', 1); i !== -1; i = rest.indexOf(':', i + 1)) if (i + 1 < rest.length) out.push([rest.slice(0, i), rest.slice(i + 1)])
  return out
}

/** Ways to read `rest` as a namespace and a user key without assuming a separator: at each of its first 24 characters, the key with and without the character. */
function charSplits(rest: string): [string, string][] {
  const out: [string, string][] = []
  for (let i = 1; i < Math.min(rest.length, 24); i++) {
    out.push([rest.slice(0, i), rest.slice(i)])
    if (i + 1 < rest.length) out.push([rest.slice(0, i), rest.slice(i + 1)])
  }
  return out
}

/** A segment's text before `keySegment`: `%XX` UTF-8 bytes and `%uXXXX` units decoded, as far as they decode. */
function unescaped(segment: string): string {
  const units = segment.replace(/%u([0-9A-F]{4})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  try {
    return decodeURIComponent(units)
  } catch {
    return units
  }
}

describe('prefixes', () => {
  const redis = useRedis()
  const caches: Cache[] = []
  const open = (prefix: string): Cache => {
    const cache = createCache({ redis: redis.url, prefix, ttl: '1h' })
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()))
  })

  /**
   * The attack of nested prefixes: the `team` cache's namespace `app` reaches, through
   * ordinary user keys, what a cache of prefix `victim` keeps at `${victim}:!tag:*` (its
   * `clear()` stamp) and its locks. Returns what it did: whether the victim's `clear()` was
   * undone (a process of the victim reads the value cleared before) and whether the
   * attacker's user key is the victim's lock.
   */
  const attack = async (victimPrefix: string): Promise<{ clearUndone: boolean; lockReached: boolean }> => {
    const victim = open(victimPrefix)
    const attacker = open('team').namespace('app')
    await victim.set('report', 'before the clear')
    await victim.clear()
    await attacker.delete('!tag:*')
    const lockKey = coreOf(victim).layout.lockKey(coreOf(victim).layout.valueBase('default') + 'report')
    await attacker.set(lockKey.slice(lockKey.indexOf(':!') + 1), 'stolen')
    const fresh = open(victimPrefix)
    return {
      clearUndone: (await fresh.get('report')) !== undefined,
      lockReached: (await redis.client.exists(lockKey)) === 1,
    }
  }

  it("refuses a prefix with ':', which would nest inside another prefix's keys", () => {
    for (const prefix of ['team:app', 'team:', ':', 'a:b:c']) {
      expect(() => createCache({ prefix }), prefix).to.throw(InvalidOptionError, /prefix must be .*no ':'.*'team\.app'/)
    }
  })

  it("keeps the 'team' cache's namespace 'app' out of every look-alike prefix's stamps and locks", async () => {
    for (const victim of ['team', 'team.app', 'team-app', 'team_app', 'teamapp', 'app']) {
      expect(await attack(victim), victim).to.deep.equal({ clearUndone: false, lockReached: false })
      await redis.client.flushall()
    }
  })

  it("gives no two prefixes' keys a common start: a prefix and ':' is where a cache's keys begin, and no other's", () => {
    const prefixes = ['team', 'team.app', 'team-app', 'teamapp', 'app', 'a', 'memoredis']
    const random = mulberry32(seedFromEnv())
    for (const p of prefixes) {
      const corpus = buildCorpus(p, random)
      caches.push(...corpus.maker.caches)
      for (const made of [...corpus.values, ...corpus.memoized, ...corpus.internal]) {
        for (const q of prefixes) expect(made.key.startsWith(`${q}:`), `${made.what} of prefix ${p}: ${JSON.stringify(made.key)}`).to.equal(q === p)
      }
    }
  })
})

describe('slotOf', () => {
  it('gives the CRC16/XMODEM test vector and the slots the Redis documentation shows', () => {
    expect(slotOf('123456789')).to.equal(0x31c3)
    expect(slotOf('somekey')).to.equal(11058)
    expect(slotOf('foo{hash_tag}')).to.equal(2515)
  })

  it('follows the hash-tag rules of the Cluster specification', () => {
    expect(slotOf('{user1000}.following')).to.equal(slotOf('{user1000}.followers')).and.to.equal(slotOf('user1000'))
    // The first `{` and the first `}` after it; an empty tag hashes the whole key.
    expect(slotOf('foo{}{bar}')).to.equal(wholeKeySlot('foo{}{bar}'))
    expect(slotOf('foo{{bar}}zap')).to.equal(slotOf('{bar'))
    expect(slotOf('foo{bar}{zap}')).to.equal(slotOf('bar'))
    expect(slotOf('{é}x')).to.equal(slotOf('é')).and.to.not.equal(slotOf('e'))
  })

  describe('against CLUSTER KEYSLOT of a real redis-server', () => {
    const redis = useRedis({ args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] })

    it('agrees on a few hundred random keys, with hash tags, braces, non-ASCII and lone surrogates', async () => {
      const seed = seedFromEnv()
      const random = mulberry32(seed)
      const fixed = ['{', '}', '{}', '}{', '{}{a}', '{a}', 'a{b}c{d}', '{{a}}', 'x{}', '{é}', '{😀}', '{\ud800}', 'é', '😀', '\ud800', '名{前}']
      const keys = [...fixed, ...Array.from({ length: 400 }, () => text(random, true))]
      const slots = await keyslots(redis.client, keys)
      keys.forEach((key, i) => expect(slotOf(key), `${JSON.stringify(key)}; seed ${seed}`).to.equal(slots[i]))
    })

    it('puts value keys and their lock keys in one slot, as Redis counts it', async () => {
      const seed = seedFromEnv()
      const { maker, values, memoized } = buildCorpus('app', mulberry32(seed))
      try {
        const sample = [...values.filter((v) => v.key.includes('{')).slice(0, 150), ...values.slice(0, 100), ...memoized.slice(0, 50)]
        const locks = sample.map((made) => maker.layout.lockKey(made.key))
        const slots = await keyslots(redis.client, [...sample.map((m) => m.key), ...locks])
        sample.forEach((made, i) => {
          const context = `${made.what}: ${JSON.stringify(made.key)} → ${JSON.stringify(locks[i])}; seed ${seed}`
          expect(slots[sample.length + i], context).to.equal(slots[i])
          expect(slotOf(made.key), context).to.equal(slots[i])
        })
      } finally {
        await maker.close()
      }
    })

    it('lands every sampled slot tag in its slot', async () => {
      const slots = Array.from({ length: 300 }, (_, i) => (i * 7919) % 16384)
      const answers = await keyslots(redis.client, slots.map((s) => `x{${slotTag(s)}}y`))
      expect(answers).to.deep.equal(slots)
    })
  })
})

describe('slotTag', () => {
  it('returns, for all 16384 slots, a short distinct tag whose slot is that slot', () => {
    const seen = new Set<string>()
    for (let slot = 0; slot < 16384; slot++) {
      const tag = slotTag(slot)
      // Base-36 text: no braces, so `{tag}` is the hash tag of whatever follows it.
      expect(tag, `slot ${slot}`).to.match(/^[0-9a-z]{1,4}$/)
      expect(slotOf(tag), `slot ${slot}: ${tag}`).to.equal(slot)
      expect(slotOf(`{${tag}}a{b}`), `slot ${slot}: ${tag}`).to.equal(slot)
      seen.add(tag)
    }
    expect(seen.size).to.equal(16384)
  })
})

/** A reference: CRC16/XMODEM bit by bit (not by table) of a whole key's UTF-8 bytes, mod 16384. */
function wholeKeySlot(key: string): number {
  let crc = 0
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  }
  return crc & 16383
}

/** CLUSTER KEYSLOT of each key, in one pipeline. */
async function keyslots(client: Redis, keys: readonly string[]): Promise<number[]> {
  const pipeline = client.pipeline()
  for (const key of keys) pipeline.call('CLUSTER', 'KEYSLOT', key)
  const results = (await pipeline.exec()) ?? []
  return results.map(([error, slot]) => {
    if (error !== null) throw error
    return Number(slot)
  })
}
