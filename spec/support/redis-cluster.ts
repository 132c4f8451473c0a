import { Cluster, Redis } from 'ioredis'
import { RedisServer } from './redis-server.ts'

/**
 * A local Redis Cluster for the specs: three masters (no replicas), each a real
 * `redis-server --cluster-enabled yes` on a free loopback port, slots split in thirds
 * with CLUSTER ADDSLOTSRANGE and the nodes joined with CLUSTER MEET. Started once per
 * spec run, on first use, and reused by every block; stopped with every other server
 * by the root hook.
 *
 * @example
 * describe('x', () => {
 *   const cluster = useCluster()
 *   it('...', async () => { const cache = createCache({ redis: cluster.template() }) })
 * })
 */

/** The running cluster. */
export interface LocalCluster {
  readonly servers: readonly RedisServer[]
  /** `redis://127.0.0.1:PORT` of every master. */
  readonly urls: readonly string[]
  /** One plain connection per master (for FLUSHALL, INFO, CLIENT KILL ...). */
  readonly masters: readonly Redis[]
}

const SLOTS = 16384
let running: Promise<LocalCluster> | undefined

/** Starts the cluster, or returns the one already running. */
export function startCluster(): Promise<LocalCluster> {
  running ??= create().catch((error: unknown) => {
    running = undefined
    throw error
  })
  return running
}

async function create(): Promise<LocalCluster> {
  const args = ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']
  const servers = await Promise.all([0, 1, 2].map(() => RedisServer.start({ args })))
  const masters = servers.map((s) => new Redis(s.port, s.host, { maxRetriesPerRequest: 1, retryStrategy: () => 100 }))
  // These outlive every block and see the servers stop at the very end: stay quiet then.
  for (const m of masters) m.on('error', () => {})
  try {
    await Promise.all(
      masters.map((m, i) => m.call('CLUSTER', 'ADDSLOTSRANGE', String(Math.floor((SLOTS * i) / 3)), String(Math.floor((SLOTS * (i + 1)) / 3) - 1))),
    )
    for (const server of servers.slice(1)) await masters[0]?.call('CLUSTER', 'MEET', server.host, String(server.port))
    await settled(masters)
  } catch (error) {
    for (const m of masters) m.disconnect()
    await Promise.all(servers.map((s) => s.stop()))
    throw error
  }
  return { servers, urls: servers.map((s) => s.url), masters }
}

/** Waits (bounded) until every node sees three masters, every slot covered, state ok. */
async function settled(masters: Redis[]): Promise<void> {
  const deadline = Date.now() + 15_000
  for (;;) {
    const infos = await Promise.all(masters.map((m) => m.call('CLUSTER', 'INFO') as Promise<string>))
    const ok = infos.every((info) => /cluster_state:ok/.test(info) && /cluster_known_nodes:3\b/.test(info))
    if (ok) {
      const views = await Promise.all(masters.map((m) => m.call('CLUSTER', 'SLOTS') as Promise<unknown[]>))
      if (views.every((slots) => slots.length === 3)) return
    }
    if (Date.now() > deadline) throw new Error(`cluster did not settle:\n${infos.join('\n')}`)
    // Gossip needs a moment: this is set-up, not a spec's timing.
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** What a `describe` block gets from {@link useCluster}. */
export interface SuiteCluster {
  readonly cluster: LocalCluster
  /** A raw Cluster client for the spec's own checks. */
  readonly client: Cluster
  /** A lazy Cluster (never connects itself) to hand to createCache as a template. */
  template(): Cluster
  /** `REDIS_NODES` for a child process: the masters' URLs, comma-separated. */
  readonly nodes: string
}

/** Startup nodes of the running cluster. */
export function startupNodes(cluster: LocalCluster): { host: string; port: number }[] {
  return cluster.servers.map((s) => ({ host: s.host, port: s.port }))
}

/** The shared cluster for a block: started (or reused) before, flushed before each test. */
export function useCluster(): SuiteCluster {
  const state: { cluster: LocalCluster | undefined; client: Cluster | undefined } = { cluster: undefined, client: undefined }
  before(async function () {
    this.timeout(30_000)
    state.cluster = await startCluster()
    state.client = new Cluster(startupNodes(state.cluster), { redisOptions: { maxRetriesPerRequest: 1 } })
  })
  beforeEach(async () => {
    await Promise.all((state.cluster?.masters ?? []).map((m) => m.flushall()))
  })
  after(() => {
    state.client?.disconnect()
  })
  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useCluster: the cluster exists only inside tests')
    return value
  }
  return {
    get cluster() {
      return need(state.cluster)
    },
    get client() {
      return need(state.client)
    },
    template: () => new Cluster(startupNodes(need(state.cluster)), { lazyConnect: true }),
    get nodes() {
      return need(state.cluster).urls.join(',')
    },
  }
}

/** The index (in `cluster.masters`) of the master that owns `slot` now, as the first master sees it. */
export async function ownerOf(cluster: LocalCluster, slot: number): Promise<number> {
  const ranges = (await cluster.masters[0]?.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][]
  const port = ranges.find(([from, to]) => from <= slot && slot <= to)?.[2][1]
  return cluster.servers.findIndex((s) => s.port === port)
}

/**
 * Moves a hash slot to the master at index `to`, as a resharding does: IMPORTING and
 * MIGRATING, its keys MIGRATEd, then the slot assigned on every master. Clients learn of
 * it from a MOVED reply.
 */
export async function moveSlot(cluster: LocalCluster, slot: number, to: number): Promise<void> {
  const from = await ownerOf(cluster, slot)
  if (from === to) return
  const [source, target] = [cluster.masters[from], cluster.masters[to]] as [Redis, Redis]
  const [sourceId, targetId] = (await Promise.all([source, target].map((m) => m.call('CLUSTER', 'MYID')))) as [string, string]
  await target.call('CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', sourceId)
  await source.call('CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', targetId)
  const { host, port } = cluster.servers[to] as RedisServer
  for (;;) {
    const keys = (await source.call('CLUSTER', 'GETKEYSINSLOT', String(slot), '100')) as string[]
    if (keys.length === 0) break
    await source.call('MIGRATE', host, String(port), '', '0', '5000', 'KEYS', ...keys)
  }
  for (const master of [target, source, ...cluster.masters]) await master.call('CLUSTER', 'SETSLOT', String(slot), 'NODE', targetId)
}
