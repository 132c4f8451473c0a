import { execFile, execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Lock } from './lockfile.ts'

/**
 * The package as a new user gets it: `npm pack` on a clean copy of the repository, and the
 * tarball installed with npm into an empty app. The app gets exactly the versions that
 * package-lock.json pins, by default: its own dependencies at those versions, and every
 * package they and memoredis need pinned through `overrides`. `npm run check:latest`
 * installs the same apps against the newest versions instead.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end (never throws on a non-zero exit: the caller asserts). */
export function run(file: string, args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, npm_config_update_notifier: 'false' }
    execFile(file, args, { cwd, maxBuffer: 64 * 1024 * 1024, env }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

/** Fails with the command's output when it did not succeed. */
export function ok(result: Run, what: string): Run {
  if (result.code !== 0) throw new Error(`${what} exited ${result.code}:\n${result.stdout}\n${result.stderr}`)
  return result
}

/** A copy of the repository's files that git knows (tracked, or new and not ignored), with node_modules linked. */
function cleanCopy(into: string): void {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  for (const file of listed.split('\0')) {
    if (file === '' || file === 'node_modules' || !existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(into, file)), { recursive: true })
    copyFileSync(join(ROOT, file), join(into, file))
  }
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir')
}

/** `npm pack` of a clean copy of the repository, in `work`: the tarball's path and the files it holds. */
export async function pack(work: string): Promise<{ tarball: string; files: string[] }> {
  const repo = join(work, 'repo')
  mkdirSync(repo)
  cleanCopy(repo)
  const packed = ok(await run('npm', ['pack', '--json', '--pack-destination', work], repo), 'npm pack')
  const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[]
  const first = report[0] as { filename: string; files: { path: string }[] }
  return { tarball: join(work, first.filename), files: first.files.map((f) => f.path) }
}

/** Which versions an app gets: the lockfile's (the suite), or the registry's newest (`check:latest`). */
export type Versions = 'locked' | 'latest'

export interface AppPlan {
  /** The app's folder (made here). */
  dir: string
  tarball: string
  /** What the app depends on beside memoredis, as the root's package-lock.json names them (`ioredis5` is ioredis 5). */
  dependencies: readonly string[]
  versions: Versions
}

/** Names of the packages memoredis itself depends on (its `dependencies`). */
function ownDependencies(): string[] {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  return Object.keys(manifest.dependencies)
}

/**
 * The app's package.json: memoredis from the tarball, each dependency at its locked
 * version, and `overrides` pinning everything both need to the lockfile's versions. With `latest`, the newest of each instead.
 */
export function appManifest(plan: Omit<AppPlan, 'dir'>): Record<string, unknown> {
  const lock = new Lock(ROOT)
  const dependencies: Record<string, string> = { memoredis: `file:${plan.tarball}` }
  if (plan.versions === 'latest') {
    for (const entry of plan.dependencies) {
      // An alias (ioredis5) stands for a major line: its newest; anything else, the newest of all.
      const { name, version } = lock.pinned(entry)
      dependencies[name] = entry === name ? 'latest' : `^${version.split('.')[0] ?? ''}`
    }
    return { name: 'app', private: true, type: 'module', dependencies }
  }
  for (const entry of plan.dependencies) {
    const { name, version } = lock.pinned(entry)
    dependencies[name] = version
  }
  // Every peer of memoredis is optional (npm installs none): an app gets a Redis client only by naming one.
  const { pins } = lock.closure([...plan.dependencies, ...ownDependencies()])
  const overrides = Object.fromEntries(Object.entries(pins).filter(([name]) => dependencies[name] === undefined))
  return { name: 'app', private: true, type: 'module', dependencies, overrides }
}

/** Makes the app and installs it: `npm install` of the manifest above. */
export async function installApp(plan: AppPlan): Promise<void> {
  mkdirSync(plan.dir, { recursive: true })
  writeFileSync(join(plan.dir, 'package.json'), JSON.stringify(appManifest(plan), null, 2))
  ok(await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], plan.dir), 'npm install')
}

/** The version of a package installed in an app (undefined when it is not there). */
export function installedVersion(app: string, name: string): string | undefined {
  const manifest = join(app, 'node_modules', name, 'package.json')
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version : undefined
}

/** tsc's diagnostics over an app's files, split: those in the app's and memoredis's files, and those inside other packages' declarations. */
export interface Diagnostics {
  code: number
  /** Lines of errors in the app's own files or in memoredis's declarations: ours to fix. */
  ours: string[]
  /** Errors inside another package's own declarations (`node_modules/<pkg>/…`), by package: reported, not ours. */
  dependencies: Map<string, string[]>
}

/** Strict tsc (nodenext, `skipLibCheck: false`) over `files` in `app`. */
export async function typecheck(app: string, files: readonly string[]): Promise<Diagnostics> {
  const args = ['--strict', '--skipLibCheck', 'false', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--noEmit']
  const result = await run(process.execPath, [TSC, ...args, ...files], app)
  const ours: string[] = []
  const dependencies = new Map<string, string[]>()
  for (const line of result.stdout.split('\n')) {
    if (!/error TS\d+/.test(line)) continue
    const owner = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1]
    if (owner === undefined || owner === 'memoredis') ours.push(line)
    else dependencies.set(owner, [...(dependencies.get(owner) ?? []), line])
  }
  return { code: result.code, ours, dependencies }
}

/** One line per package whose own declarations failed: printed by the spec and by `check:latest`. */
export function describeDependencyErrors(diagnostics: Diagnostics): string[] {
  return [...diagnostics.dependencies].map(([owner, lines]) => `${owner}'s own declarations: ${lines.length} error(s), e.g. ${lines[0] ?? ''}`)
}
