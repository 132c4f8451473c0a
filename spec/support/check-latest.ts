/**
 * `npm run check:latest`: the package spec's apps installed against the newest version of
 * every peer and type package instead of the lockfile's, to see drift before users do.
 * Outside `npm test` on purpose: the suite's verdict must not depend on the day it runs.
 * Prints what moved (locked → newest) and what broke; exits 1 when something of ours
 * broke, 0 when only other packages' own declarations fail (printed as theirs).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Lock } from './lockfile.ts'
import { CJS, CONSUMER, ESM, ioredisLikeApp, IOREDIS5_APP, MAIN_APP } from './package-consumers.ts'
import { describeDependencyErrors, installApp, installedVersion, pack, ROOT, run, typecheck } from './package-app.ts'

interface Check {
  app: string
  what: string
  broke: string[]
  notOurs: string[]
}

const lock = new Lock(ROOT)

/** Lines `name: locked → installed` for every package of the lockfile's closure that the app got at another version. */
function moved(app: string, entries: readonly string[]): string[] {
  const { pins } = lock.closure(entries)
  return Object.entries(pins).flatMap(([name, version]) => {
    const now = installedVersion(app, name)
    return now === version ? [] : [`${name}: ${version} → ${now ?? 'not installed'}`]
  })
}

async function runs(app: string, file: string, source: string): Promise<Check> {
  writeFileSync(join(app, file), source)
  const result = await run(process.execPath, [file], app)
  const broke = result.code === 0 ? [] : [`exited ${result.code}: ${result.stderr.trim().split('\n').slice(0, 5).join(' | ')}`]
  return { app, what: `node ${file}`, broke, notOurs: [] }
}

async function typechecks(app: string, file: string, source: string): Promise<Check> {
  writeFileSync(join(app, file), source)
  const result = await typecheck(app, [file])
  return { app, what: `tsc --strict --skipLibCheck false ${file}`, broke: result.ours, notOurs: describeDependencyErrors(result) }
}

async function main(): Promise<number> {
  const work = mkdtempSync(join(tmpdir(), 'memoredis-latest-'))
  try {
    const { tarball } = await pack(work)
    const main = join(work, 'app')
    const app5 = join(work, 'app5')
    await installApp({ dir: main, tarball, dependencies: MAIN_APP, versions: 'latest' })
    await installApp({ dir: app5, tarball, dependencies: IOREDIS5_APP, versions: 'latest' })
    const drift = [
      ...moved(main, [...MAIN_APP, 'lru-cache', 'superjson', 'p-limit', 'fastify-plugin']).map((line) => `app: ${line}`),
      ...moved(app5, IOREDIS5_APP).map((line) => `app5: ${line}`),
    ]
    console.log(drift.length === 0 ? 'moved: nothing (the newest versions are the locked ones)' : `moved since the lockfile:\n  ${drift.join('\n  ')}`)
    const checks = [await runs(main, 'esm.mjs', ESM), await runs(main, 'cjs.cjs', CJS), await typechecks(main, 'consumer.ts', CONSUMER), await typechecks(app5, 'app.ts', ioredisLikeApp('ioredis'))]
    for (const check of checks) {
      const verdict = check.broke.length === 0 ? 'ok' : 'BROKE'
      console.log(`${verdict}  ${check.app === main ? 'app' : 'app5'}: ${check.what}`)
      for (const line of check.broke) console.log(`    ${line}`)
      for (const line of check.notOurs) console.log(`    not ours (printed, not failed on): ${line}`)
    }
    const broke = checks.filter((check) => check.broke.length > 0).length
    console.log(`${checks.length - broke} passed, ${broke} failed`)
    return broke === 0 ? 0 : 1
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

process.exitCode = await main()
