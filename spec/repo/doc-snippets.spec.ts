import { expect } from 'chai'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pLimit from 'p-limit'
import { chainOf, docSnippets, fileOf, placeOf, runnable, snippetsOf, tsconfigOf, typeErrors, writeSnippets, type Snippet } from '../support/doc-snippets.ts'
import { userDocs } from '../support/doc-links.ts'
import { useRedis } from '../support/redis.ts'
import { runNode, type NodeRun } from '../support/run-node.ts'

/**
 * Docs that run as written. Every ```ts (and ```js) block of README.md and docs/*.md is
 * written to a module file of its own and typechecked strictly (`strict`, `nodenext`,
 * `'memoredis'` and its subpaths resolving to lib/ through the `source` condition), all
 * in one program (the NestJS ones, with experimentalDecorators, in a second); the
 * self-contained ones then run, each in a child process (20 s at most), with REDIS_URL
 * at a Redis of the suite's own, PORT=0 and MEMOREDIS_SIGNING_KEY set, and fetch
 * answering example.com only (spec/support/doc-snippet-run.ts).
 *
 * The convention. A snippet is complete: its imports, and what the reader supplies
 * declared (`declare function loadOrder(...)`, in a snippet that does not run) or
 * stubbed in a line (`const fetchUser = async (id: string) => ({ id })   // yours`).
 * An HTML comment on the line right before the fence says what else to do with it:
 *
 *   <!-- snippet: name=quickstart -->        other snippets may continue it
 *   <!-- snippet: continues quickstart -->   typechecked after the named snippet's code, not run
 *   <!-- snippet: typecheck-only -->         cannot run here (a cluster, a TLS server, files)
 *   <!-- snippet: legacy-decorators -->      NestJS: checked and run with experimentalDecorators
 *   <!-- snippet: other-library -->          another library's API, for comparison: skipped
 *
 * Words combine, separated by commas. The parser: spec/support/doc-snippets.ts.
 */

const root = fileURLToPath(new URL('../../', import.meta.url))
const snippets = docSnippets(root, userDocs(root))
// Under the package folder (git-ignored), so that `import 'memoredis'` resolves to this package.
const dir = join(root, '.tmp', `doc-snippets-${process.pid}`)

/** Runs a snippet file to the end of its top-level code (killed after 20 s). */
function runSnippet(snippet: Snippet, redisUrl: string): Promise<NodeRun> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    REDIS_URL: redisUrl,
    PORT: '0',
    MEMOREDIS_SIGNING_KEY: 'a-doc-snippet-signing-key-of-32-bytes',
    TSX_TSCONFIG_PATH: join(dir, tsconfigOf(snippet)),
  }
  const args = ['--conditions=source', '--import', 'tsx', join(root, 'spec/support/doc-snippet-run.ts'), join(dir, fileOf(snippet))]
  return runNode(args, { cwd: root, env, timeoutMs: 20_000 })
}

describe('doc snippets', () => {
  const redis = useRedis()
  const runs = new Map<Snippet, Promise<NodeRun>>()
  let errors: string[] = []

  before(async function () {
    this.timeout(120_000)
    writeSnippets(dir, snippets)
    errors = typeErrors(dir, snippets)
    const limit = pLimit(2)
    for (const snippet of snippets.filter(runnable)) {
      const run = limit(() => runSnippet(snippet, redis.url))
      run.catch(() => undefined) // seen by the test that awaits it
      runs.set(snippet, run)
    }
  })

  after(async () => {
    await Promise.all([...runs.values()].map((run) => run.catch(() => undefined)))
    rmSync(dir, { recursive: true, force: true })
  })

  it('finds the snippets of README.md and docs/, and every continued name exists', () => {
    expect(snippets.length).to.be.above(25)
    expect(snippets.filter((s) => s.doc === 'README.md').length).to.be.above(4)
    for (const snippet of snippets) expect(chainOf(snippet, snippets)).to.include(snippet)
  })

  it('typechecks every snippet (other libraries aside) strictly, each its own module', () => {
    expect(errors).to.deep.equal([])
  })

  it('skips only the few snippets that show other libraries, in docs/migrating.md', () => {
    const skipped = snippets.filter((s) => s.otherLibrary)
    expect(skipped.map((s) => s.doc)).to.satisfy((d: string[]) => d.every((doc) => doc === 'docs/migrating.md'))
    expect(skipped.length).to.be.at.most(3)
  })

  for (const snippet of snippets.filter(runnable)) {
    it(`runs ${placeOf(snippet)}${snippet.name === undefined ? '' : ` (${snippet.name})`} to its end`, async function () {
      this.timeout(30_000)
      const run = await runs.get(snippet)
      expect({ code: run?.code, signal: run?.signal }, `${run?.stdout ?? ''}${run?.stderr ?? ''}`.slice(-3000)).to.deep.equal({ code: 0, signal: null })
    })
  }

  describe('the marker parser', () => {
    const md = (marker: string): string => `text\n${marker}\n\`\`\`ts\nconst a = 1\n\`\`\`\n\n\`\`\`sh\nnpm test\n\`\`\`\n`

    it('reads every marker word, and a block without a marker runs', () => {
      const [plain] = snippetsOf('x.md', md(''))
      expect(plain).to.deep.include({ line: 3, lang: 'ts', code: 'const a = 1', name: undefined, typecheckOnly: false })
      expect(runnable(plain!)).to.equal(true)
      const [marked] = snippetsOf('x.md', md('<!-- snippet: name=a, continues b, typecheck-only, legacy-decorators -->'))
      expect(marked).to.deep.include({ name: 'a', continues: 'b', typecheckOnly: true, legacyDecorators: true, otherLibrary: false })
      expect(runnable(marked!)).to.equal(false)
    })

    it('refuses an unknown word and a marker away from a fence', () => {
      expect(() => snippetsOf('x.md', md('<!-- snippet: typecheck-onyl -->'))).to.throw('x.md:2: unknown snippet marker word "typecheck-onyl"')
      expect(() => snippetsOf('x.md', '<!-- snippet: typecheck-only -->\n\n```ts\n```\n')).to.throw('x.md:1: a snippet marker must sit')
    })

    it('puts a continued snippet first, and refuses a name nobody has', () => {
      const [a, b, c] = snippetsOf('x.md', `<!-- snippet: name=a -->\n\`\`\`ts\n1\n\`\`\`\n<!-- snippet: name=b, continues a -->\n\`\`\`ts\n2\n\`\`\`\n<!-- snippet: continues z -->\n\`\`\`ts\n3\n\`\`\`\n`)
      expect(chainOf(b!, [a!, b!, c!]).map((s) => s.code)).to.deep.equal(['1', '2'])
      expect(() => chainOf(c!, [a!, b!, c!])).to.throw('x.md:10 continues "z", which no snippet is named')
    })
  })
})
