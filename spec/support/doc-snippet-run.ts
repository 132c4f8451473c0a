import { pathToFileURL } from 'node:url'

/**
 * Runs one doc snippet the way spec/repo/doc-snippets.spec.ts does:
 * `node --conditions=source --import tsx spec/support/doc-snippet-run.ts <snippet.ts>`.
 * The snippet's top-level code must finish without throwing; then the process exits 0,
 * although the snippet may leave a cache, a client or a server open, as an app does.
 * Requests to example.com (a domain kept for documentation) are answered with `{}`, and
 * any other fetch fails: the quickstart's `fetch('https://api.example.com/...')` runs
 * without a network, and no snippet reaches one.
 */

const file = process.argv[2]
if (file === undefined) throw new Error('usage: doc-snippet-run.ts <snippet.ts>')

globalThis.fetch = async (input: string | URL | Request): Promise<Response> => {
  const url = new URL(input instanceof Request ? input.url : input)
  if (!/(^|\.)example\.(com|org|net)$/.test(url.hostname)) {
    throw new Error(`a doc snippet fetched ${url.href}: only example.com hosts are answered here`)
  }
  return Response.json({})
}
process.on('unhandledRejection', (reason) => {
  console.error('unhandled rejection:', reason)
  process.exit(1)
})

await import(pathToFileURL(file).href)
// One turn of the event loop, so that a rejection nobody handled is reported first.
await new Promise(setImmediate)
process.exit(0)
