/**
 * `npm run conformance`: the HTTP caching test suite behind cache-tests.fyi
 * (github.com/http-tests/cache-tests, BSD-licensed, not part of this repository) run
 * against `examples/reverse-proxy.ts` in front of the suite's own origin server, its
 * results counted the way cache-tests.fyi classifies them.
 *
 * CACHE_TESTS_DIR must name a checkout of the suite with its dependencies installed
 * (`git clone https://github.com/http-tests/cache-tests && cd cache-tests && npm i`).
 * With REDIS_URL the proxy shares through that Redis; without, it caches in its process.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { fileURLToPath, pathToFileURL } from 'node:url'

const suite = process.env.CACHE_TESTS_DIR
if (!suite) {
  console.error('CACHE_TESTS_DIR must name a checkout of github.com/http-tests/cache-tests with `npm i` run in it')
  process.exit(2)
}
const root = fileURLToPath(new URL('../../', import.meta.url))

/** A free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/** Starts `args` with node; resolves once it prints `ready` on stdout. */
async function start(args: string[], cwd: string, env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  let seen = ''
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited ${code}`)))
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString()
      if (ready.test(seen)) resolve()
    })
  })
  return child
}

/** Runs the suite's client against `base`; resolves with its results by test id. */
async function runSuite(base: string): Promise<Record<string, unknown>> {
  const cli = spawn(process.execPath, ['--no-warnings', 'test-engine/cli.mjs'], {
    cwd: suite, env: { ...process.env, npm_config_base: base, npm_config_id: '', npm_package_config_id: '' }, stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  cli.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
  await once(cli, 'exit')
  return JSON.parse(out) as Record<string, unknown>
}

const originPort = await freePort()
const proxyPort = await freePort()
const origin = await start(['test-engine/server/server.mjs'], suite, { npm_config_port: String(originPort), npm_config_protocol: 'http', npm_config_pidfile: `${suite}/.server.pid` }, /Listening|listening|http/)
const proxy = await start(['--conditions=source', '--import', 'tsx', 'examples/reverse-proxy.ts'], root, { ORIGIN: `http://127.0.0.1:${originPort}`, PORT: String(proxyPort) }, /caching /)
try {
  const results = await runSuite(`http://127.0.0.1:${proxyPort}`)
  const { determineTestResult, resultTypes } = (await import(pathToFileURL(`${suite}/test-engine/lib/results.mjs`).href)) as {
    determineTestResult(suites: unknown, id: string, results: unknown): string[]
    resultTypes: Record<string, string[]>
  }
  const tests = ((await import(pathToFileURL(`${suite}/tests/index.mjs`).href)) as { default: { tests: { id: string; kind?: string }[] }[] }).default
  const names = new Map(Object.entries(resultTypes).map(([name, type]) => [type, name]))
  const counts = new Map<string, number>()
  const failures: string[] = []
  for (const test of tests.flatMap((s) => s.tests)) {
    const kind = test.kind ?? 'required'
    const result = names.get(determineTestResult(tests, test.id, results)) ?? 'unknown'
    counts.set(`${kind} ${result}`, (counts.get(`${kind} ${result}`) ?? 0) + 1)
    if (kind === 'required' && result !== 'pass') failures.push(`${test.id} (${result})`)
  }
  for (const [what, n] of [...counts].sort()) console.log(`${what.padEnd(28)} ${n}`)
  console.log(`required not passing: ${failures.join(', ')}`)
} finally {
  proxy.kill('SIGTERM')
  origin.kill('SIGTERM')
}
