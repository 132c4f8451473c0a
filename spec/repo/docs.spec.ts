import { expect } from 'chai'
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { anchors, checkLinks, linkTargets, slug, userDocs } from '../support/doc-links.ts'

/**
 * The user docs: every relative link and #anchor in README.md and docs/*.md resolves,
 * and the checker that says so finds what it should. (Undocumented exports and broken
 * {@link}s are TypeDoc's check: `npm run docs:check`, part of `npm test`.)
 */

const root = fileURLToPath(new URL('../../', import.meta.url))
const docs = (): string[] => userDocs(root)

describe('docs', () => {
  it('every relative link and #anchor in README.md and docs/*.md resolves', () => {
    const files = docs()
    expect(files).to.include.members(['README.md', 'docs/options.md', 'docs/events.md', 'docs/security.md'])
    expect(checkLinks(root, files)).to.deep.equal([])
  })

  it('the README stays short (under 300 lines) and links every guide in docs/', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    expect(readme.split('\n').length).to.be.below(300)
    const linked = new Set(linkTargets(readme).map((t) => t.split('#')[0]))
    for (const guide of docs().filter((f) => f !== 'README.md')) expect(linked, guide).to.include(guide)
  })

  it('runs every example the README shows the way spec/repo/examples.spec.ts runs it', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8')
    const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts
    const rows = [...readme.matchAll(/^\| \[`examples\/([\w-]+\.ts)`\]\(examples\/\1\) \|.*\| `([^`]+)` \|$/gm)]
    expect(rows.map((row) => row[1])).to.include.members(['quickstart.ts', 'decorator.ts', 'express.ts', 'koa.ts'])
    for (const [, file, command] of rows) {
      const run = command === 'npm run example' ? scripts.example : command
      expect(run, `the README's command for ${file}`).to.equal(`node --conditions=source --import tsx examples/${file}`)
    }
    expect(readme).to.include('```sh\nnpm install && npm run example\n```')
    expect(readme).to.include('```sh\nnpm test\n```')
  })

  describe('the link checker', () => {
    let dir: string
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'memoredis-docs-'))
      mkdirSync(join(dir, 'docs'))
      writeFileSync(join(dir, 'docs', 'guide.md'), '# Guide\n\n## The `@Memoize` decorator\n\n## Step\n\n## Step\n')
      writeFileSync(join(dir, 'code.ts'), '')
    })
    afterEach(() => rmSync(dir, { recursive: true, force: true }))

    const check = (readme: string): string[] => {
      writeFileSync(join(dir, 'README.md'), readme)
      return checkLinks(dir, ['README.md']).map((b) => `${b.target}: ${b.problem}`)
    }

    it('accepts existing files, folders, headings and repeated headings', () => {
      expect(check('[a](docs/guide.md) [b](docs/guide.md#the-memoize-decorator) [c](docs/guide.md#step-1) [d](code.ts) [e](docs/) [f](#top)\n\n# Top\n')).to.deep.equal([])
    })

    it('reports a missing file, a missing anchor and an anchor into a non-Markdown file', () => {
      expect(check('[a](docs/nope.md) [b](docs/guide.md#nope) [c](#nowhere) [d](code.ts#x)')).to.deep.equal([
        'docs/nope.md: missing file',
        'docs/guide.md#nope: missing anchor',
        '#nowhere: missing anchor',
        'code.ts#x: anchor in a file that is not Markdown',
      ])
    })

    it('leaves links in code and absolute URLs alone', () => {
      expect(check('```md\n[a](missing.md)\n```\n`[b](missing.md)` [c](https://example.com/x.md#y)')).to.deep.equal([])
    })
  })

  it('slugs headings as GitHub does', () => {
    expect(slug('2. Tampering by anyone who can write to Redis: `signingKey`')).to.equal(
      '2-tampering-by-anyone-who-can-write-to-redis-signingkey',
    )
    expect(slug("5. Reading (or writing) other people's data: prefix, ACL and TLS")).to.equal(
      '5-reading-or-writing-other-peoples-data-prefix-acl-and-tls',
    )
    expect(slug('Migrating from cache-manager, bentocache and apicache')).to.equal(
      'migrating-from-cache-manager-bentocache-and-apicache',
    )
    expect(slug('See [Keys](keys.md) and `clear()`')).to.equal('see-keys-and-clear')
    expect([...anchors('# A\n## A\n```\n# not a heading\n```\n### a_b\n')]).to.deep.equal(['a', 'a-1', 'a_b'])
  })
})
