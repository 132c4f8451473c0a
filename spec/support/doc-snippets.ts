import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import ts from 'typescript'

/**
 * The code blocks of the user docs, read and typechecked as spec/repo/doc-snippets.spec.ts
 * says (the convention of `<!-- snippet: ... -->` markers is described there). Every
 * ```ts / ```js block of a Markdown file is a snippet.
 */

/** What a snippet's marker says, and where the snippet is. */
export interface Snippet {
  /** `README.md`, `docs/http.md`. */
  readonly doc: string
  /** The line of the opening fence, counted from 1. */
  readonly line: number
  readonly lang: 'ts' | 'js'
  readonly code: string
  readonly name: string | undefined
  /** The name of the snippet this one continues. */
  readonly continues: string | undefined
  readonly typecheckOnly: boolean
  readonly legacyDecorators: boolean
  readonly otherLibrary: boolean
}

const FENCE = /^```(ts|typescript|js|javascript|mts|mjs)\s*$/
const MARKER = /^<!-- snippet: (.*) -->$/

/** The snippets of one Markdown text; throws on a marker it does not understand. */
export function snippetsOf(doc: string, markdown: string): Snippet[] {
  const lines = markdown.split('\n')
  const found: Snippet[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? ''
    const marker = MARKER.exec(line)
    if (marker !== null && !FENCE.test(lines[i + 1] ?? '')) {
      throw new Error(`${doc}:${i + 1}: a snippet marker must sit on the line right before a \`\`\`ts or \`\`\`js fence`)
    }
    if (line.startsWith('```') && !FENCE.test(line)) {
      i = closingFence(lines, i)
      continue
    }
    const fence = FENCE.exec(line)
    if (fence === null) continue
    const end = closingFence(lines, i)
    const words = parseMarker(`${doc}:${i}`, MARKER.exec(lines[i - 1] ?? '')?.[1])
    found.push({
      doc,
      line: i + 1,
      lang: fence[1]?.includes('j') === true ? 'js' : 'ts',
      code: lines.slice(i + 1, end).join('\n'),
      ...words,
    })
    i = end
  }
  return found
}

/** The snippets of the Markdown files `docs` (paths under `root`); throws on a name given twice. */
export function docSnippets(root: string, docs: readonly string[]): Snippet[] {
  const all = docs.flatMap((doc) => snippetsOf(doc, readFileSync(join(root, doc), 'utf8')))
  for (const snippet of all) {
    const first = all.find((s) => s.name !== undefined && s.name === snippet.name)
    if (first !== undefined && first !== snippet) throw new Error(`${placeOf(snippet)}: the name "${snippet.name}" is taken by ${placeOf(first)}`)
  }
  return all
}

function closingFence(lines: readonly string[], open: number): number {
  for (let i = open + 1; i < lines.length; i++) if (lines[i]?.startsWith('```') === true) return i
  throw new Error(`unclosed code fence at line ${open + 1}`)
}

type Words = { -readonly [K in 'name' | 'continues' | 'typecheckOnly' | 'legacyDecorators' | 'otherLibrary']: Snippet[K] }

function parseMarker(where: string, text: string | undefined): Words {
  const words: Words = { name: undefined, continues: undefined, typecheckOnly: false, legacyDecorators: false, otherLibrary: false }
  for (const word of (text ?? '').split(',').map((w) => w.trim()).filter((w) => w !== '')) {
    const named = /^name=([\w-]+)$/.exec(word)?.[1]
    const continued = /^continues ([\w-]+)$/.exec(word)?.[1]
    if (named !== undefined) words.name = named
    else if (continued !== undefined) words.continues = continued
    else if (word === 'typecheck-only') words.typecheckOnly = true
    else if (word === 'legacy-decorators') words.legacyDecorators = true
    else if (word === 'other-library') words.otherLibrary = true
    else throw new Error(`${where}: unknown snippet marker word "${word}"`)
  }
  return words
}

/** A snippet's place, as people write it: `docs/http.md:14`. */
export const placeOf = (snippet: Snippet): string => `${snippet.doc}:${snippet.line}`

/**
 * The snippets `snippet` stands on, first to last, itself included: the chain of
 * `continues`. Throws on a name that no snippet has, or on a loop.
 */
export function chainOf(snippet: Snippet, all: readonly Snippet[]): Snippet[] {
  const chain = [snippet]
  for (let at = snippet; at.continues !== undefined; ) {
    const name = at.continues
    const previous = all.find((s) => s.name === name)
    if (previous === undefined) throw new Error(`${placeOf(at)} continues "${name}", which no snippet is named`)
    if (chain.includes(previous)) throw new Error(`${placeOf(at)}: the snippets continue each other in a loop`)
    chain.unshift(previous)
    at = previous
  }
  return chain
}

/** Whether the spec runs the snippet: self-contained, and nothing says it cannot run here. */
export const runnable = (snippet: Snippet): boolean =>
  snippet.continues === undefined && !snippet.typecheckOnly && !snippet.otherLibrary

/**
 * Packages a doc names but this repository does not install: declared here so that the
 * snippet typechecks; a snippet importing one must be typecheck-only.
 */
const DECLARED_MODULES = `
declare module '@nestjs/config' {
  import type { DynamicModule } from '@nestjs/common'
  export class ConfigModule { static forRoot(options?: { isGlobal?: boolean }): DynamicModule }
  export class ConfigService { get<T = string>(key: string): T | undefined }
}
`

/** The snippet's module file, in the folder given to {@link writeSnippets}. */
export const fileOf = (s: Snippet): string => `${s.doc.replace(/\.md$/, '').replace(/\W/g, '-')}-${s.line}.${s.lang === 'js' ? 'mjs' : 'mts'}`

/** The tsconfig file the snippet is checked and run with, in the same folder. */
export const tsconfigOf = (s: Snippet): string => (s.legacyDecorators ? 'tsconfig.legacy.json' : 'tsconfig.json')

/** The compiler options of both programs, as a tsconfig.json a user could copy. */
function tsconfig(legacyDecorators: boolean): { compilerOptions: object } {
  return {
    compilerOptions: {
      strict: true,
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      moduleDetection: 'force',
      lib: ['ES2023'],
      types: ['node'],
      skipLibCheck: true,
      noEmit: true,
      allowJs: true,
      checkJs: true,
      // This checkout's TypeScript sources, where `npm i memoredis` gives its .d.ts files.
      customConditions: ['source'],
      allowImportingTsExtensions: true,
      ...(legacyDecorators ? { experimentalDecorators: true, emitDecoratorMetadata: true } : {}),
    },
  }
}

/**
 * Writes into `dir` each snippet to check (its chain first, each part headed by its
 * place), both tsconfig files and the declared modules.
 */
export function writeSnippets(dir: string, all: readonly Snippet[]): void {
  mkdirSync(dir, { recursive: true })
  for (const legacy of [false, true]) writeFileSync(join(dir, legacy ? 'tsconfig.legacy.json' : 'tsconfig.json'), JSON.stringify(tsconfig(legacy), null, 2))
  writeFileSync(join(dir, 'declared-modules.d.ts'), DECLARED_MODULES)
  for (const snippet of all.filter((s) => !s.otherLibrary)) {
    const code = chainOf(snippet, all).map((s) => `// ${placeOf(s)}\n${s.code}`).join('\n')
    writeFileSync(join(dir, fileOf(snippet)), `${code}\n`)
  }
}

/**
 * The type errors of the snippets written by {@link writeSnippets}, one program per
 * tsconfig, as `docs/x.md:16 (snippet docs/x.md:14): message`.
 */
export function typeErrors(dir: string, all: readonly Snippet[]): string[] {
  const checked = all.filter((s) => !s.otherLibrary)
  return [false, true].flatMap((legacy) => programErrors({ dir, all, group: checked.filter((s) => s.legacyDecorators === legacy), legacy }))
}

function programErrors({ dir, all, group, legacy }: { dir: string; all: readonly Snippet[]; group: readonly Snippet[]; legacy: boolean }): string[] {
  if (group.length === 0) return []
  const options = ts.parseJsonConfigFileContent(tsconfig(legacy), ts.sys, dir).options
  const files = new Map(group.map((s) => [join(dir, fileOf(s)), s]))
  const program = ts.createProgram([...files.keys(), join(dir, 'declared-modules.d.ts')], options)
  const found = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()]
  for (const file of files.keys()) {
    const source = program.getSourceFile(file)
    if (source === undefined) throw new Error(`${file} is not in the program`)
    found.push(...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source))
  }
  return found.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n')
    const snippet = d.file === undefined ? undefined : files.get(d.file.fileName)
    if (d.file === undefined || d.start === undefined || snippet === undefined) return message
    const line = d.file.getLineAndCharacterOfPosition(d.start).line + 1
    return `${docLineOf(chainOf(snippet, all), line)} (snippet ${placeOf(snippet)}): ${message}`
  })
}

/** Where line `line` of a snippet's file (its chain, each part after a header line) is in the docs. */
function docLineOf(chain: readonly Snippet[], line: number): string {
  let header = 1
  for (const part of chain) {
    const lines = part.code.split('\n').length
    if (line > header && line <= header + lines) return `${part.doc}:${part.line + line - header}`
    header += lines + 1
  }
  return `line ${line}`
}
