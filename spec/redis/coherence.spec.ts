import { expect } from 'chai'
import type { Redis } from 'ioredis'
import { createCache, type CacheEvents } from 'memoredis'
import { Child } from '../support/child.ts'
import { COHERENCE_MS, expectPrompt, expectPromptly } from '../support/coherence.ts'
import { RedisServer } from '../support/redis-server.ts'
import { eachTopology, type TopologyHandle } from '../support/topology.ts'

/**
 * L1 coherence across real processes: two children (A and B) with L1 on, a real Redis
 * (a single node, then a 3-master cluster), each change made in one and watched for in
 * the other. "Within 50 ms" is measured from the writer's call resolving to the reader's
 * read returning the new value, on one machine's wall clock, as a shared machine allows
 * (`expectPrompt`: a round or so in twenty may be late, none by more than 10x).
 */

const WORKER = new URL('../fixtures/coherence-worker.ts', import.meta.url)

interface Read {
  value: { by: number; n: number } | string
  status: string
  created: number
}

async function fleet(t: TopologyHandle, mode: 'tracking' | 'bus', prefix: string): Promise<[Child, Child]> {
  const env = { ...t.env(), COHERENCE: mode, PREFIX: prefix }
  return Promise.all([Child.start(WORKER, env), Child.start(WORKER, env)]) as Promise<[Child, Child]>
}

/** Every subscriber connection of every node (CLIENT LIST: `sub=` or `psub=` above 0). */
async function subscriberIds(nodes: readonly Redis[]): Promise<{ node: Redis; id: string }[]> {
  const found: { node: Redis; id: string }[] = []
  for (const node of nodes) {
    const list = (await node.client('LIST')) as string
    for (const line of list.split('\n')) {
      // A subscriber, or a connection whose invalidations are pushed to itself (node-redis on RESP3: tracking, no redirect).
      const pushed = / flags=\S*t\S* /.test(line) && / redir=0 /.test(line)
      if (/ (sub|psub)=[1-9]/.test(line) || pushed) found.push({ node, id: /id=(\d+)/.exec(line)?.[1] as string })
    }
  }
  return found
}

/**
 * One change, watched: each reader reads `key` (tagged `tags`) in a tight loop until its
 * value changes; `change()` makes the change elsewhere and resolves with the moment it
 * was done. Returns how long after that each reader's read returned the new value (ms;
 * may be negative: the notice can overtake the writer's own reply).
 */
async function lags(readers: Child[], key: string, tags: string[], change: () => Promise<number>): Promise<number[]> {
  for (const reader of readers) {
    const before = await reader.call<Read>('read', key, tags)
    await reader.call('watch', key, tags, before.created)
  }
  const done = await change()
  return Promise.all(readers.map(async (reader) => (await reader.call<number>('changed')) - done))
}

async function lag(b: Child, key: string, tags: string[], change: () => Promise<number>): Promise<number> {
  return (await lags([b], key, tags, change))[0] as number
}

const wallClock = (): number => performance.timeOrigin + performance.now()

eachTopology((t) => {
  for (const mode of ['tracking', 'bus'] as const) {
    describe(`coherent L1 across processes (coherence: '${mode}')`, function () {
      this.timeout(30_000)
      let a: Child
      let b: Child
      // One fleet for the block (each test its own keys): starting processes is the slow part.
      before(async () => {
        ;[a, b] = await fleet(t, mode, `coh-${mode}`)
      })
      after(async () => {
        const errors = [...(await a.call<string[]>('errors')), ...(await b.call<string[]>('errors'))]
        await Promise.all([a.stop(), b.stop()])
        expect(errors.filter((e) => /CROSSSLOT/.test(e))).to.deep.equal([])
      })

      it(`recomputes in B within ${COHERENCE_MS} ms of A invalidating a tag, over 100 rounds`, async () => {
        // A first invalidation, unmeasured: code paths run for the first time are slow.
        await a.call('read', 'profile', ['user:1'])
        await lag(b, 'profile', ['user:1'], () => a.call<number>('invalidate', ['user:1']))
        const lags: number[] = []
        for (let round = 0; round < 100; round++) {
          await a.call<Read>('read', 'profile', ['user:1'])
          lags.push(await lag(b, 'profile', ['user:1'], () => a.call<number>('invalidate', ['user:1'])))
        }
        expectPrompt(lags)
        // B's reads were L1 hits between rounds, and it recomputed (or took A's value) each round.
        expect((await a.call<number>('computed')) + (await b.call<number>('computed'))).to.be.at.least(100)
      })

      it('stops serving the old value in B when A sets, deletes or clears', async () => {
        await expectPromptly(() => lag(b, 'k1', [], () => a.call<number>('set', 'k1', 'from A')))
        expect((await b.call<Read>('read', 'k1')).value).to.equal('from A')
        await expectPromptly(() => lag(b, 'k1', [], () => a.call<number>('delete', 'k1')))
        await expectPromptly(() => lag(b, 'k1', [], () => a.call<number>('clear')))
      })

      it('flushes L1 when the invalidation connection is killed, and is coherent again once it is back', async () => {
        // Both processes serve 'k2' from L1 (once their coherence is in place).
        await Promise.all([a.call('waitForL1', 'k2', ['t']), b.call('waitForL1', 'k2', ['t'])])
        const since = (await b.call<string[]>('flushes')).length
        const subscribers = await subscriberIds(t.nodes)
        expect(subscribers.length).to.be.at.least(2)
        // Every subscriber of both processes: CLIENT KILL by id, on the node it is on.
        for (const { node, id } of subscribers) await node.client('KILL', 'ID', id)
        // Pushed to the command connection itself (node-redis, RESP3 or a cluster), or to a subscriber.
        const pushes = mode === 'tracking' && t.library === 'node-redis' && (t.name === 'cluster' || t.resp !== 2)
        await b.call('waitForFlushes', pushes ? 'command connection lost' : 'subscriber connection lost', 1, since)
        expect(await b.call<number>('l1Size')).to.equal(0)
        // Reconnected: L1 is used again once every change would be heard again.
        await Promise.all([a.call('waitForL1', 'k2', ['t']), b.call('waitForL1', 'k2', ['t'])])
        await expectPromptly(() => lag(b, 'k2', ['t'], () => a.call<number>('invalidate', ['t'])))
        await expectPromptly(() => lag(b, 'k2', ['t'], () => a.call<number>('set', 'k2', 'again', ['t'])))
      })
    })
  }

  describe("writes by other Redis clients (coherence: 'tracking')", function () {
    this.timeout(30_000)
    it('evicts a key from L1 in every process when a plain SET or DEL changes it', async () => {
      const [a, b] = await fleet(t, 'tracking', 'raw')
      await a.call('set', 'source', 'written by redis, not memoredis')
      for (const child of [a, b]) expect((await child.call<Read>('read', 'target')).value).to.have.property('n')
      // A valid envelope, copied by a client that is not memoredis (the bytes of another key).
      const bytes = await t.client.getBuffer('raw:default:source')
      expect(bytes).to.be.instanceOf(Buffer)
      const planted = await lags([a, b], 'target', [], async () => {
        await t.client.set('raw:default:target', bytes as Buffer)
        return wallClock()
      })
      for (const child of [a, b]) {
        expect((await child.call<Read>('read', 'target')).value).to.equal('written by redis, not memoredis')
      }
      const removed = await lags([a, b], 'target', [], async () => {
        await t.client.del('raw:default:target')
        return wallClock()
      })
      // The same bytes planted again would not change what B reads: four lags, one round each.
      expectPrompt([...planted, ...removed])
      await Promise.all([a.stop(), b.stop()])
    })
  })
}, { resp2: true })

describe('coherence where the server refuses CLIENT TRACKING', () => {
  it("falls back to the bus with a warning, and stays coherent", async () => {
    const server = await RedisServer.start()
    const { Redis } = await import('ioredis')
    const admin = new Redis(server.url)
    // A user who may do everything but client tracking (as some managed services allow).
    await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-secret', '~*', '&*', '+@all', '-client|tracking')
    const url = `redis://app:app-secret@${server.host}:${server.port}`
    const a = createCache({ redis: url, prefix: 'fb' })
    const b = createCache({ redis: url, prefix: 'fb' })
    const warnings: CacheEvents['warning'][] = []
    b.on('warning', (w) => warnings.push(w))
    await a.set('k', 'old')
    // b serves 'k' from L1 once its coherence (now the bus) is in place.
    while ((await b.get('k'), b.stats().l1.size) === 0) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(warnings.map((w) => w.error.message).join()).to.match(/client tracking unavailable.*falls back to the bus/)
    await a.set('k', 'new')
    const deadline = Date.now() + 1000
    while ((await b.get('k')) !== 'new') {
      expect(Date.now()).to.be.below(deadline)
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all([a.close(), b.close()])
    admin.disconnect()
    await server.stop()
  })
})
