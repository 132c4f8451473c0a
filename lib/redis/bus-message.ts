/**
 * The bus's message: the keys a process wrote, with its origin id so that it can ignore
 * its own (`{"o": origin, "k": [keys]}` on `<prefix>:!bus`).
 */

/** The message announcing that `origin` changed `keys`. */
export function busMessage(origin: string, keys: readonly string[]): string {
  return JSON.stringify({ o: origin, k: keys })
}

/** The keys of a message from another process; undefined for this process's own, or anything malformed. */
export function foreignKeys(message: Buffer, origin: string): string[] | undefined {
  let parsed: unknown
  try {
    parsed = JSON.parse(message.toString())
  } catch {
    return undefined
  }
  const { o, k } = parsed as { o?: unknown; k?: unknown }
  if (o === origin || !Array.isArray(k)) return undefined
  return k.filter((key): key is string => typeof key === 'string')
}
