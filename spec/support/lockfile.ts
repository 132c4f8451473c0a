import { readFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * What the repository's package-lock.json pins, read the way npm resolves it: the
 * versions an app made by a spec must get, so that the suite's verdict never depends on
 * what the registry serves on the day it runs.
 */

interface LockedPackage {
  name?: string
  version?: string
  dependencies?: Record<string, string>
  optionalDependencies?: Record<string, string>
  peerDependencies?: Record<string, string>
}

interface Lockfile {
  packages: Record<string, LockedPackage>
}

/** A package as the lockfile pins it: `entry` is how the root names it (an alias such as `ioredis5` gives the aliased package). */
export interface Pinned {
  name: string
  version: string
}

export class Lock {
  private readonly packages: Record<string, LockedPackage>

  constructor(root: string) {
    this.packages = (JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as Lockfile).packages
  }

  /** The package the root's `node_modules/<entry>` holds. */
  pinned(entry: string): Pinned {
    const found = this.packages[`node_modules/${entry}`]
    if (found?.version === undefined) throw new Error(`package-lock.json pins no ${entry}`)
    return { name: found.name ?? entry, version: found.version }
  }

  /**
   * Every package that the given root entries need, each at the version the lockfile
   * resolves for it, by name: what an app's `overrides` must pin so that npm picks the same
   * tree. A name the tree holds at two versions is left out (nothing can pin both by name);
   * `conflicts` lists those.
   */
  closure(entries: readonly string[]): { pins: Record<string, string>; conflicts: string[] } {
    const seen = new Set<string>()
    const versions = new Map<string, Set<string>>()
    const visit = (path: string): void => {
      if (seen.has(path)) return
      seen.add(path)
      const found = this.packages[path]
      if (found?.version === undefined) return
      const name = found.name ?? path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length)
      let held = versions.get(name)
      if (held === undefined) versions.set(name, (held = new Set()))
      held.add(found.version)
      const needs = { ...found.dependencies, ...found.optionalDependencies, ...found.peerDependencies }
      for (const dependency of Object.keys(needs)) {
        const resolved = this.resolve(path, dependency)
        if (resolved !== undefined) visit(resolved)
      }
    }
    for (const entry of entries) visit(`node_modules/${entry}`)
    const pins: Record<string, string> = {}
    const conflicts: string[] = []
    for (const [name, held] of [...versions].sort(([a], [b]) => a.localeCompare(b))) {
      if (held.size === 1) pins[name] = [...held][0] as string
      else conflicts.push(`${name}@${[...held].join('|')}`)
    }
    return { pins, conflicts }
  }

  /** Where npm finds `dependency` for the package at `from`: its own node_modules, then each parent's, then the root's. */
  private resolve(from: string, dependency: string): string | undefined {
    let base = from
    for (;;) {
      const candidate = `${base}/node_modules/${dependency}`
      if (this.packages[candidate] !== undefined) return candidate
      const parent = base.lastIndexOf('/node_modules/')
      if (parent < 0) break
      base = base.slice(0, parent)
    }
    const top = `node_modules/${dependency}`
    return this.packages[top] === undefined ? undefined : top
  }
}
