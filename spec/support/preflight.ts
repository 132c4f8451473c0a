import { accessSync, constants, statSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * Run before the specs (`npm test`'s `pretest`): the specs start their own `redis-server`
 * processes and make TLS certificates with `openssl`. When a program is missing, say so
 * in one line — what, how to install it on Debian, and that `.ci/run` does it — and exit
 * 1, instead of dozens of `spawn redis-server ENOENT` stack traces 40 s later.
 */

/** A program the specs run, and the Debian package that brings it. */
interface Tool {
  readonly program: string
  readonly debian: string
}

export const TOOLS: readonly Tool[] = [
  { program: 'redis-server', debian: 'redis-server' },
  { program: 'openssl', debian: 'openssl' },
]

/** Where `program` is: the first executable file of that name in the folders of `path` (a PATH value). */
export function which(program: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const file = join(dir, program)
    try {
      accessSync(file, constants.X_OK)
      if (statSync(file).isFile()) return file
    } catch {
      // not here
    }
  }
  return undefined
}

/** True when `program` is on `path` (a PATH value). */
export const onPath = (program: string, path: string): boolean => which(program, path) !== undefined

/** The tools not on `path`. */
export function missingTools(path: string): Tool[] {
  return TOOLS.filter((tool) => !onPath(tool.program, path))
}

/** The one line that says what is missing and how to get it; undefined when nothing is. */
export function preflightMessage(path: string): string | undefined {
  const missing = missingTools(path)
  if (missing.length === 0) return undefined
  const programs = missing.map((t) => t.program).join(' and ')
  const packages = missing.map((t) => t.debian).join(' ')
  return (
    `memoredis specs: ${programs} not found on the PATH (the specs start their own Redis servers); ` +
    `install with \`apt-get install -y ${packages}\` on Debian, or run .ci/run, which installs what the specs need.`
  )
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const message = preflightMessage(process.env.PATH ?? '')
  if (message !== undefined) {
    process.stderr.write(`${message}\n`)
    process.exitCode = 1
  }
}
