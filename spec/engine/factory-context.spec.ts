import { expect } from 'chai'
import { Child } from '../support/child.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'
import type { CacheStats } from '../../lib/index.ts'
import type { Computed, Options, Plan } from '../fixtures/context-worker.ts'

/**
 * The function decides, across real processes (a single node, then the 3-master
 * cluster): what one process's function sets on its context (ttl, tags, validator,
 * skip, fail, not modified) is what every other process reads, and a failure releases
 * the lock at once.
 */

const WORKER = new URL('../fixtures/context-worker.ts', import.meta.url)
const full = (key: string): string => `ctx:default:${key}`

/** The header of a stored envelope, and the bytes after it. */
interface Stored {
  created: string
  freshUntil: number
  staleUntil: number
  validator: string | undefined
  rest: Buffer
}

async function stored(t: TopologyHandle, key: string): Promise<Stored | undefined> {
  const bytes = await t.client.getBuffer(full(key))
  if (bytes === null) return undefined
  const newline = bytes.indexOf(10)
  const fields = bytes.toString('latin1', 0, newline).split(' ')
  const validator = fields[7] === undefined ? undefined : Buffer.from(fields[7], 'base64url').toString('utf8')
  return { created: fields[3] as string, freshUntil: Number(fields[4]), staleUntil: Number(fields[5]), validator, rest: bytes.subarray(newline) }
}

/** Until `key`'s stored value is past its freshness on this machine's clock (ttl 1 ms: a few ms at most). */
async function untilStale(t: TopologyHandle, key: string): Promise<void> {
  const fresh = (await stored(t, key))?.freshUntil ?? 0
  while (Date.now() <= fresh) await new Promise((resolve) => setImmediate(resolve))
}

/** Until `check` holds of `child`'s stats (asked again after each answer). */
async function untilStats(child: Child, check: (stats: CacheStats) => boolean): Promise<void> {
  while (!check(await child.call<CacheStats>('stats'))) await new Promise((resolve) => setImmediate(resolve))
}

const token = (v: string, exp?: number): Plan['value'] => (exp === undefined ? { v } : { v, exp })

eachTopology((t) => {
  describe('the function decides, across processes', () => {
    let a: Child
    let b: Child
    before(async function () {
      this.timeout(60_000)
      ;[a, b] = await Promise.all([Child.start(WORKER, t.env()), Child.start(WORKER, t.env())])
      await Promise.all([a, b].map((child) => child.call('open', { prefix: 'ctx', grace: '1h', lock: { wait: '30s' } })))
    })
    after(async () => {
      await Promise.all([a, b].map((child) => child.stop()))
    })
    const compute = (child: Child, key: string, plan: Plan, options?: Options): Promise<Computed> => child.call<Computed>('compute', key, plan, options)

    it('stores the ttl, grace, tags and validator one process’s function set, and the other reads them', async () => {
      const made = await compute(a, 'set', { value: token('v1'), ttl: '2h', grace: '3h', tags: ['user:1'], validator: 'etag-1' })
      expect(made).to.deep.include({ ran: true, status: 'miss', seen: undefined })
      const header = await stored(t, 'set')
      expect(header?.validator).to.equal('etag-1')
      expect((header?.staleUntil ?? 0) - (header?.freshUntil ?? 0)).to.equal(3 * 3_600_000)
      const pttl = await t.client.pttl(full('set'))
      expect(pttl).to.be.within(5 * 3_600_000 - 60_000, 5 * 3_600_000 + 1_000)
      expect(await compute(b, 'set', { value: token('b') })).to.deep.include({ ran: false, status: 'hit', value: token('v1') })
      // The tag set by the function is the entry's: invalidating it in one process reaches the other.
      await b.call('invalidateTags', ['user:1'])
      expect(await compute(a, 'set', { value: token('v2') })).to.deep.include({ ran: true, value: token('v2') })
    })

    it('hands a skipped value to its callers and stores nothing: the other process computes its own', async () => {
      expect(await compute(a, 'skip', { value: token('a'), skip: true })).to.deep.include({ ran: true, status: 'miss', value: token('a') })
      expect(await t.client.exists(full('skip'))).to.equal(0)
      expect(await compute(b, 'skip', { value: token('b') })).to.deep.include({ ran: true, status: 'miss', value: token('b') })
    })

    it('fail() rejects the caller without the stale value, stores and remembers nothing, and frees the lock for the waiting process', async () => {
      await compute(a, 'fail', { value: token('v1'), ttl: 1 })
      const before = await stored(t, 'fail')
      await untilStale(t, 'fail')
      // With a stale value within grace, the failure is still the caller's.
      const failed = await compute(a, 'fail', { value: token('v2'), fail: 'no such user' }, { errorTtl: '1h' })
      expect(failed.error?.message).to.equal('no such user')
      expect((await stored(t, 'fail'))?.created).to.equal(before?.created)
      // A cold key: a holds the lock (its function waits at the gate), b waits for it; a
      // fails; b is woken and computes at once (lock.wait is 30 s).
      const holding = compute(a, 'fail-cold', { value: token('a'), gate: 'fail-cold', fail: 'gone' })
      await a.call('reached', 'fail-cold')
      const waits = (await b.call<CacheStats>('stats')).lockWaits
      const waiting = compute(b, 'fail-cold', { value: token('b') })
      await untilStats(b, (s) => s.lockWaits > waits)
      await a.call('openGate', 'fail-cold')
      expect((await holding).error?.message).to.equal('gone')
      expect(await waiting).to.deep.include({ ran: true, status: 'miss', value: token('b') })
      expect((await b.call<CacheStats>('stats')).lockTimeouts).to.equal(0)
      // Nothing remembered (errorTtl): the next call runs the function.
      expect(await compute(a, 'fail', { value: token('v3') }, { errorTtl: '1h' })).to.deep.include({ ran: true })
    })

    it('keeps a token until its own expiry (ttl as a function of the value), for every process', async () => {
      const exp = Date.now() + 90_000
      expect(await compute(a, 'token', { value: token('t1', exp) }, { ttlFrom: 'exp', grace: 0 })).to.deep.include({ status: 'miss' })
      const header = await stored(t, 'token')
      expect(header?.freshUntil).to.be.within(exp - 1_000, exp + 1)
      expect(await t.client.pttl(full('token'))).to.be.within(80_000, 91_000)
      expect(await compute(b, 'token', { value: token('other') }, { ttlFrom: 'exp', grace: 0 })).to.deep.include({ ran: false, value: token('t1', exp) })
    })

    it('fails with ERR_INVALID_OPTION when the ttl function returns a bad duration, stores nothing and leaves no lock', async () => {
      const bad = await compute(a, 'bad-ttl', { value: token('v') }, { ttlFrom: 'bad', grace: 0 })
      expect(bad.error?.code).to.equal('ERR_INVALID_OPTION')
      expect(bad.error?.message).to.match(/ttl \(a function of the value\) must be a positive duration/)
      expect(await t.client.exists(full('bad-ttl'))).to.equal(0)
      const before = (await b.call<CacheStats>('stats')).lockWaits
      expect(await compute(b, 'bad-ttl', { value: token('b') })).to.deep.include({ ran: true, value: token('b') })
      expect((await b.call<CacheStats>('stats')).lockWaits).to.equal(before)
    })

    it('conditional refresh: "not modified" extends the stored value in place, and every process sees the new expiry', async () => {
      await compute(a, 'cond', { value: token('v1'), ttl: 1, validator: 'etag-1' })
      const first = await stored(t, 'cond')
      await untilStale(t, 'cond')
      const written = (await b.call<CacheStats>('stats')).redis.bytesWritten
      const refreshed = await compute(b, 'cond', { value: token('v2'), ttl: '1h', notModifiedIf: 'etag-1' })
      expect(refreshed).to.deep.include({ ran: true, status: 'miss', value: token('v1') })
      expect(refreshed.seen).to.deep.include({ value: token('v1'), validator: 'etag-1', tags: [] })
      const renewed = await stored(t, 'cond')
      // Not written again: the same value, tags and validator, byte for byte; only the times moved.
      expect((await b.call<CacheStats>('stats')).redis.bytesWritten).to.equal(written)
      expect(renewed?.created).to.equal(first?.created)
      expect(renewed?.validator).to.equal('etag-1')
      expect(renewed?.rest.equals(first?.rest ?? Buffer.alloc(0))).to.equal(true)
      expect((renewed?.freshUntil ?? 0) - Date.now()).to.be.within(3_600_000 - 60_000, 3_600_000 + 1_000)
      expect(await t.client.pttl(full('cond'))).to.be.within(2 * 3_600_000 - 60_000, 2 * 3_600_000 + 1_000)
      // a held v1 in L1, stale: it takes the renewed entry as a hit, without running its function.
      expect(await compute(a, 'cond', { value: token('a2') })).to.deep.include({ ran: false, status: 'hit', value: token('v1') })
      expect(await compute(b, 'cond', { value: token('b3') })).to.deep.include({ ran: false, status: 'hit', value: token('v1') })
    })

    it('a background refresh (stale-while-revalidate) sees the validator and renews the value in place for every process', async () => {
      await compute(a, 'cond-swr', { value: token('v1'), ttl: 1, validator: 'etag-1' })
      const first = await stored(t, 'cond-swr')
      await untilStale(t, 'cond-swr')
      const served = await compute(b, 'cond-swr', { value: token('v2'), ttl: '1h', notModifiedIf: 'etag-1' }, { staleWhileRevalidate: true })
      expect(served).to.deep.include({ status: 'stale', value: token('v1') })
      // The refresh runs behind: until the stored value's freshness moves.
      while (((await stored(t, 'cond-swr'))?.freshUntil ?? 0) === first?.freshUntil) await new Promise((resolve) => setImmediate(resolve))
      const renewed = await stored(t, 'cond-swr')
      expect(renewed?.created).to.equal(first?.created)
      expect(renewed?.rest.equals(first?.rest ?? Buffer.alloc(0))).to.equal(true)
      expect(await compute(a, 'cond-swr', { value: token('a2') })).to.deep.include({ ran: false, status: 'hit', value: token('v1') })
    })

    it('a refresh whose validator changed stores the new value and validator', async () => {
      await compute(a, 'cond-new', { value: token('v1'), ttl: 1, validator: 'etag-1' })
      await untilStale(t, 'cond-new')
      const changed = await compute(b, 'cond-new', { value: token('v2'), ttl: '1h', validator: 'etag-2', notModifiedIf: 'etag-0' })
      expect(changed).to.deep.include({ ran: true, value: token('v2') })
      expect((await stored(t, 'cond-new'))?.validator).to.equal('etag-2')
      expect(await compute(a, 'cond-new', { value: token('a') })).to.deep.include({ ran: false, value: token('v2') })
    })
  })
})
