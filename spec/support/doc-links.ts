import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

/**
 * A checker of the relative links of Markdown files: every `[text](target)` outside
 * code must name a file or folder that exists, and its `#anchor` (if any) a heading of
 * the target (or of the same file), slugged as GitHub does.
 */

/** The user docs under `root`: README.md, then docs/*.md in name order. */
export function userDocs(root: string): string[] {
  return ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]
}

/** One link that does not resolve. */
export interface BrokenLink {
  /** The file that holds the link, relative to the root given to {@link checkLinks}. */
  file: string
  /** The link's target as written. */
  target: string
  /** What is wrong. */
  problem: 'missing file' | 'missing anchor' | 'anchor in a file that is not Markdown'
}

/** The lines of `markdown` outside fenced code blocks. */
export function outsideFences(markdown: string): string[] {
  const lines: string[] = []
  let fence: string | undefined
  for (const line of markdown.split('\n')) {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1]
    if (fence === undefined && marker !== undefined) fence = marker
    else if (fence !== undefined && marker !== undefined && marker.startsWith(fence)) fence = undefined
    else if (fence === undefined) lines.push(line)
  }
  return lines
}

/** Text outside fenced code blocks, with inline code spans blanked (so links in code are not links). */
export function prose(markdown: string): string {
  return outsideFences(markdown).map((line) => line.replace(/(`+)[^`]*?\1/g, '')).join('\n')
}

/** The targets of the inline links and images of `markdown`, outside code. */
export function linkTargets(markdown: string): string[] {
  return [...prose(markdown).matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1] as string)
}

/** GitHub's slug of a heading's text: lowercase, punctuation dropped, each space a hyphen. */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // a link's text only
    .replace(/<[^>]+>/g, '') // HTML tags
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** The anchors GitHub gives the headings of `markdown` (a repeated slug gets `-1`, `-2`, ...). */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const line of outsideFences(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1]
    if (heading === undefined) continue
    const base = slug(heading)
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    out.add(count === 0 ? base : `${base}-${count}`)
  }
  return out
}

/** Checks every relative link of `files` (paths relative to `root`); returns the broken ones. */
export function checkLinks(root: string, files: readonly string[]): BrokenLink[] {
  const broken: BrokenLink[] = []
  const cache = new Map<string, Set<string>>()
  const anchorsOf = (path: string): Set<string> => {
    let found = cache.get(path)
    if (found === undefined) {
      found = anchors(readFileSync(path, 'utf8'))
      cache.set(path, found)
    }
    return found
  }
  for (const file of files) {
    const path = resolve(root, file)
    for (const target of linkTargets(readFileSync(path, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto: ...
      const hash = target.indexOf('#')
      const where = hash < 0 ? target : target.slice(0, hash)
      const anchor = hash < 0 ? undefined : decodeURIComponent(target.slice(hash + 1))
      const linked = where === '' ? path : resolve(dirname(path), decodeURIComponent(where))
      const report = (problem: BrokenLink['problem']): void => {
        broken.push({ file: relative(root, path), target, problem })
      }
      if (!existsSync(linked)) report('missing file')
      else if (anchor === undefined) continue
      else if (statSync(linked).isDirectory() || !linked.endsWith('.md')) report('anchor in a file that is not Markdown')
      else if (!anchorsOf(linked).has(anchor)) report('missing anchor')
    }
  }
  return broken
}
