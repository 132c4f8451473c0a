/**
 * Redis Cluster hash slots. A script may only name keys of one slot, so a value's lock
 * key carries a hash tag chosen to land in the value key's own slot: the value key stays
 * raw and readable, and the read-or-lock and fill scripts still work on a Cluster.
 */

const SLOTS = 16384

/** CRC16/XMODEM, by table. */
const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let crc = i << 8
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff
  TABLE[i] = crc
}

function crc16(text: string, start: number, end: number): number {
  let crc = 0
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ c) & 0xff] as number)
    else return crc16Bytes(Buffer.from(text.slice(start, end)))
  }
  return crc
}

function crc16Bytes(bytes: Buffer): number {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number)
  return crc
}

/** The Cluster hash slot of `key`: CRC16 of the key, or of its first non-empty `{hash tag}`, mod 16384. */
export function slotOf(key: string): number {
  const open = key.indexOf('{')
  if (open !== -1) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) return crc16(key, open + 1, close) & (SLOTS - 1)
  }
  return crc16(key, 0, key.length) & (SLOTS - 1)
}

let tags: string[] | undefined

/**
 * A short text whose hash slot is `slot`, for a `{hash tag}`. The table of all 16384 is
 * built on first use (about 170,000 CRCs of 3-4 characters, a few ms).
 */
export function slotTag(slot: number): string {
  if (tags === undefined) {
    const table: string[] = new Array<string>(SLOTS)
    let missing = SLOTS
    for (let n = 0; missing > 0; n++) {
      const text = n.toString(36)
      const s = crc16(text, 0, text.length) & (SLOTS - 1)
      if (table[s] === undefined) {
        table[s] = text
        missing--
      }
    }
    tags = table
  }
  return tags[slot] as string
}

/**
 * The positions of `keys` grouped by hash slot, for commands that may name keys of one
 * slot only (`MGET`, a script, on a Cluster); on a single node, one group of them all.
 */
export function bySlot(keys: readonly string[], cluster: boolean): number[][] {
  if (!cluster) return [keys.map((_, i) => i)]
  const groups = new Map<number, number[]>()
  keys.forEach((key, i) => {
    const slot = slotOf(key)
    const group = groups.get(slot)
    if (group === undefined) groups.set(slot, [i])
    else group.push(i)
  })
  return [...groups.values()]
}
