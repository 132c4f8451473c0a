import { SuperJSON } from 'superjson'
import type { SuperJSONResult } from 'superjson'
import type { Codec } from './types.ts'
import { checkMeta, hasOwn, isObj, MAX_PATH, parseKey, refuseForbiddenKeys, resolve, step, type Obj } from './document-checks.ts'
import { fail, MARK, restoreMarks } from './marks.ts'
import { prepareValue } from './prepare-value.ts'
import { plainSuperjson } from './plain-superjson.ts'
import { onRegister } from './registry.ts'

/**
 * The default payload codec: superjson, hardened for bytes that may have been written by
 * an attacker. A private `SuperJSON` instance (never the global one, which any library in
 * the process could register classes or custom transformers into) knows exactly the
 * classes of `registry.ts`, plus Node Buffers. What `decode` checks before superjson sees
 * a document, and why, is told in `document-checks.ts`.
 */
const sj = new SuperJSON()
/**
 * The instance of documents with marks (`marks.ts`): the same registrations, and
 * an Error's MARK field written and restored with it.
 */
const sjMarked = new SuperJSON()
sjMarked.allowErrorProps(MARK)
const instances = [sj, sjMarked]

onRegister((cls, name) => {
  for (const instance of instances) instance.registerClass(cls as unknown as Parameters<SuperJSON['registerClass']>[0], { identifier: name })
})

const isSpecial = (n: number): boolean => !Number.isFinite(n) || Object.is(n, -0)
/** A float array's numbers, with NaN, ±Infinity and -0 as superjson writes them (JSON would write null or 0). */
const floats = (v: Float32Array | Float64Array): (number | string)[] => Array.from(v, (n) => (isSpecial(n) ? (Object.is(n, -0) ? '-0' : String(n)) : n))
const fromFloats = (v: readonly (number | string)[]): number[] => v.map(Number)

for (const instance of instances) {
  // Buffers are Uint8Arrays named 'Buffer', which superjson's typed-array rule cannot restore.
  instance.registerCustom<Buffer, string>(
    { isApplicable: (v): v is Buffer => Buffer.isBuffer(v), serialize: (v) => v.toString('base64'), deserialize: (v) => Buffer.from(v, 'base64') },
    'Buffer',
  )
  // superjson writes an Invalid Date as null (JSON.stringify's toJSON), and loses it.
  instance.registerCustom<Date, null>(
    { isApplicable: (v): v is Date => v instanceof Date && Number.isNaN(v.getTime()), serialize: () => null, deserialize: () => new Date(Number.NaN) },
    'InvalidDate',
  )
  // superjson writes typed arrays as JSON arrays, where NaN and ±Infinity become null and -0 becomes 0.
  for (const Float of [Float32Array, Float64Array]) {
    instance.registerCustom<Float32Array | Float64Array, (number | string)[]>(
      { isApplicable: (v): v is Float64Array => v instanceof Float && v.some(isSpecial), serialize: floats, deserialize: (v) => new Float(fromFloats(v)) },
      Float.name,
    )
  }
}

/** superjson, hardened for decoding untrusted bytes. Name `'superjson'`. */
export const superjsonCodec: Codec = {
  name: 'superjson',
  encode: (value) => encodeSuperjson(value, false, () => {}),
  decode,
}

/**
 * The superjson document of `value`, written by `plainSuperjson` when the value is JSON
 * data and Dates, else by superjson after `prepareValue(value, strict, warn)` (which
 * refuses what could not come back, and marks what superjson alone would change).
 */
export function encodeSuperjson(value: unknown, strict: boolean, warn: (className: string) => void): string {
  const plain = plainSuperjson(value)
  if (plain !== undefined) return plain
  const prepared = prepareValue(value, strict, warn)
  if (!prepared.marked) return sj.stringify(prepared.value)
  return JSON.stringify({ ...sjMarked.serialize(prepared.value), mr: 1 })
}

function decode(bytes: Buffer): unknown {
  const text = bytes.toString('utf8')
  const doc: unknown = JSON.parse(text)
  // A forbidden key needs its name in the text, or a \u escape to spell it: only then walk.
  if (text.includes('proto') || text.includes('constructor') || text.includes('\\u')) refuseForbiddenKeys(doc)
  if (!isObj(doc) || !hasOwn.call(doc, 'json')) return fail('not a superjson document')
  const json = doc.json
  const withMeta = hasOwn.call(doc, 'meta')
  const marked = hasOwn.call(doc, 'mr')
  if (marked && doc.mr !== 1) fail('unknown mr version')
  if (Object.keys(doc).length !== 1 + (withMeta ? 1 : 0) + (marked ? 1 : 0)) fail('unknown top-level key')
  if (!marked) return withMeta ? restore(json, doc.meta, sj) : json // no meta: superjson would return json as it is
  return restoreMarks(withMeta ? restore(json, doc.meta, sjMarked) : json)
}

/** The value of a document with `meta`: Dates only restored here, anything else checked and given to `instance`. */
function restore(json: unknown, meta: unknown, instance: SuperJSON): unknown {
  if (datesOnly(meta)) return withDates(json, meta.values)
  checkMeta(meta, json)
  return instance.deserialize({ json: json as SuperJSONResult['json'], meta: meta as SuperJSONResult['meta'] }, { inPlace: true })
}

/** `meta` annotating Dates and nothing else, at paths below the root: the common case, restored without superjson. */
function datesOnly(meta: unknown): meta is { v: 1; values: Obj } {
  if (!isObj(meta) || !hasOwn.call(meta, 'v') || meta.v !== 1 || !hasOwn.call(meta, 'values') || Object.keys(meta).length !== 2) return false
  const values = meta.values
  if (!isObj(values)) return false
  for (const key of Object.keys(values)) {
    const annotation = values[key]
    if (!Array.isArray(annotation) || annotation.length !== 1 || annotation[0] !== 'Date') return false
  }
  return true
}

/**
 * `json` with the string at each path of `values` made a Date, as superjson's
 * deserialize would: each path checked as {@link checkMeta} checks it (own keys and
 * in-range indices, no forbidden segment, a string at the end). A Date is a leaf, so no
 * path can pass through another's node.
 */
function withDates(json: unknown, values: Obj): unknown {
  for (const key of Object.keys(values)) {
    const path = parseKey(key)
    if (path.length > MAX_PATH) fail('path too long')
    const last = path.pop() as string
    const parent = resolve(json, path, undefined)
    const raw = step(parent, last)
    if (typeof raw !== 'string') fail('Date must be a string')
    ;(parent as Obj)[last] = new Date(raw as string)
  }
  return json
}
