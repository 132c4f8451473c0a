/**
 * memoredis as users install it: the compiled package in dist/ (`npm run build` at the
 * repository root), not the TypeScript sources. Run under tsx, the sources pay for every
 * closure they create (esbuild's `keepNames` wraps each in an `Object.defineProperty`),
 * which the build does not: a lone L2 hit measured 2 to 6 µs slower from the sources.
 * A dist/ older than a file of lib/ is refused, so that no run measures stale code.
 */
import { readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

type Index = typeof import('../lib/index.ts')
type ExpressModule = typeof import('../lib/http/express.ts')
type FastifyModule = typeof import('../lib/http/fastify.ts')
type KeysModule = typeof import('../lib/keys/arguments.ts')
type EnvelopeModule = typeof import('../lib/codec/envelope.ts')

const root = new URL('../', import.meta.url)
const lib = fileURLToPath(new URL('lib/', root))

/** Milliseconds since the epoch at which dist/index.js was written, or undefined without a build. */
function builtAt(): number | undefined {
  try {
    return statSync(new URL('dist/index.js', root)).mtimeMs
  } catch {
    return undefined
  }
}

const built = builtAt()
if (built === undefined) throw new Error('the benchmarks measure the built package: run `npm run build` at the repository root first')
const newer = readdirSync(lib, { recursive: true, encoding: 'utf8' }).find((file) => file.endsWith('.ts') && statSync(`${lib}/${file}`).mtimeMs > built)
if (newer !== undefined) throw new Error(`dist/ is older than lib/${newer}: run \`npm run build\` at the repository root first`)

const load = async <T>(path: string): Promise<T> => (await import(new URL(path, root).href)) as T

export const { createCache, memoize } = await load<Index>('dist/index.js')
export const { expressCache } = await load<ExpressModule>('dist/http/express.js')
export const { fastifyCache } = await load<FastifyModule>('dist/http/fastify.js')
export const { encodeArgs, digest } = await load<KeysModule>('dist/keys/arguments.js')
export const { Envelope, superjsonCodec } = await load<EnvelopeModule>('dist/codec/envelope.js')
