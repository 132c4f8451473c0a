import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { onPath, preflightMessage, which } from '../support/preflight.ts'

/**
 * `npm test` without redis-server on the PATH stops before the specs with one line that
 * says what is missing, how to install it on Debian, and that .ci/run does it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface Run {
  code: number
  stdout: string
  stderr: string
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: ROOT, env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    })
  })
}

const LINE =
  /^memoredis specs: redis-server not found on the PATH \(the specs start their own Redis servers\); install with `apt-get install -y redis-server` on Debian, or run \.ci\/run, which installs what the specs need\.$/

describe('the test command without redis-server', function () {
  this.timeout(30_000)
  /** A PATH with node, sh (npm runs scripts with it) and openssl on it, and no redis-server. */
  let bin: string
  let path: string
  before(() => {
    bin = mkdtempSync(join(tmpdir(), 'memoredis-path-'))
    symlinkSync(process.execPath, join(bin, 'node'))
    for (const program of ['sh', 'openssl']) {
      const found = which(program, process.env.PATH ?? '')
      if (found !== undefined) symlinkSync(found, join(bin, program))
    }
    path = bin
    expect(onPath('redis-server', path)).to.equal(false)
  })
  after(() => rmSync(bin, { recursive: true, force: true }))

  it('is what npm test runs first (pretest)', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(manifest.scripts.pretest).to.equal('node --import tsx spec/support/preflight.ts')
  })

  it('prints one line naming redis-server, the Debian install command and .ci/run, and exits 1', async () => {
    const result = await run(process.execPath, ['--import', 'tsx', 'spec/support/preflight.ts'], { ...process.env, PATH: path })
    expect(result.code).to.equal(1)
    expect(result.stdout).to.equal('')
    const lines = result.stderr.split('\n').filter((line) => line !== '')
    expect(lines).to.have.length(1)
    expect(lines[0]).to.match(LINE)
  })

  it('stops npm run pretest with that line and a non-zero exit, before any spec runs', async () => {
    // npm's own script, run by node: the PATH needs nothing but node.
    const npm = process.env.npm_execpath ?? realpathSync(which('npm', process.env.PATH ?? '') ?? 'npm')
    const result = await run(process.execPath, [npm, 'run', 'pretest'], { ...process.env, PATH: path })
    expect(result.code).to.not.equal(0)
    expect(result.stderr.split('\n').filter((line) => LINE.test(line))).to.have.length(1)
    expect(result.stdout + result.stderr).to.not.match(/ENOENT|passing|failing/)
  })

  it('says nothing and exits 0 when redis-server and openssl are on the PATH', async () => {
    expect(preflightMessage(process.env.PATH ?? '')).to.equal(undefined)
    const result = await run(process.execPath, ['--import', 'tsx', 'spec/support/preflight.ts'], process.env)
    expect(result).to.deep.equal({ code: 0, stdout: '', stderr: '' })
  })

  it('names every missing program in the one line', () => {
    expect(preflightMessage(bin + '-nothing-here')).to.match(/redis-server and openssl not found.*apt-get install -y redis-server openssl/)
  })
})
