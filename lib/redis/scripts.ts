import { createHash } from 'node:crypto'

/**
 * The Lua scripts of the Redis path. Each names at most two keys of one hash slot, a
 * value and its lock (see `KeyLayout.lockKey`) or a stamp and its bucket's floor (see
 * `KeyLayout.stampKey`), so each runs whole on a Cluster.
 * Times are the server's clock in ms with the microseconds kept, sent as text (Lua
 * numbers reach the client as integers).
 *
 * Client tracking (default mode) remembers the keys a connection reads (inside a script,
 * Redis 7.0 tracks every key the script names at its first read), and forgets a key when
 * it changes. A script that writes a value this process then
 * keeps in L1 reads the key just before its write (`PTTL`, a read the documented ACL
 * already grants: so the write comes back to this process as exactly one notice, its
 * echo, which `Watches` absorbs) and just after (so that Redis tracks it again, and the
 * next change by anyone is heard).
 */

export interface Script {
  readonly name: string
  readonly source: string
  readonly sha: string
}

function script(name: string, source: string): Script {
  return { name, source, sha: createHash('sha1').update(source).digest('hex') }
}

/** READ_OR_LOCK's work for one key, a Lua function that both forms call; `stamp` is the server's TIME, ms as text. */
const READ_OR_LOCK_ONE = `local function readOrLock(value, lock, token, ttl, newerThan, skip, now, stamp)
  local v = redis.call('get', value)
  if v and skip ~= '1' then
    local created, fresh = string.match(v, '^MR1 %d+ %S+ (%S+) (%S+) ')
    if fresh and tonumber(fresh) > tonumber(now) and tonumber(created) > tonumber(newerThan) then return {0, v} end
  end
  if redis.call('set', lock, token, 'NX', 'PX', ttl) then return {1, v, stamp} end
  return {2, v, stamp, redis.call('pttl', lock)}
end
local t = redis.call('time')
local stamp = string.format('%.3f', tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
`

/**
 * The read of a miss, in one round trip. KEYS: value, lock. ARGV: token, lock ttl (ms),
 * `newerThan` (a value created at or before it does not count: a refresh), `skip` ('1':
 * the value was already found unusable; take the lock whatever it holds), the caller's
 * clock (ms: freshness runs on the cache's clock, as everywhere else).
 *
 * Answers `{0, value}` when the value is fresh by its envelope header (`MR1 <flags>
 * <codec> <created> <freshUntil> ...`); else `{1, value or nil, now}` when the lock was
 * taken, `now` being the server's clock (the computation's `created`); else `{2, value
 * or nil, now, holder's PTTL}`. The value that comes with a lock
 * is the stale one, kept as a fallback. The header is only a hint: the client verifies
 * and decodes the value before it believes it.
 */
export const READ_OR_LOCK = script('READ OR LOCK', `${READ_OR_LOCK_ONE}return readOrLock(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], stamp)`)

/**
 * {@link READ_OR_LOCK} for the misses of a batch, in one round trip: the same read for
 * each key, in order, under one TIME. KEYS: value, lock, value, lock, ... (one hash slot
 * on a Cluster). ARGV: READ_OR_LOCK's five per key, in order. Answers one READ_OR_LOCK
 * reply per key.
 */
export const READ_OR_LOCK_MANY = script(
  'READ OR LOCK MANY',
  `${READ_OR_LOCK_ONE}local out = {}
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 5
  out[i] = readOrLock(KEYS[2 * i - 1], KEYS[2 * i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], stamp)
end
return out`,
)

/** FILL's work for one key, a Lua function that both forms call. */
const FILL_ONE = `local function fill(value, lock, token, bytes, px)
  if redis.call('get', lock) ~= token then return 0 end
  redis.call('pttl', value)
  redis.call('set', value, bytes, 'PX', px)
  redis.call('pttl', value)
  redis.call('del', lock)
  return 1
end
`

/**
 * The write of a computed value, in one round trip. KEYS: value, lock. ARGV: token,
 * value, PX (ms). Writes only while `token` still holds the lock (a delete, or a lease
 * that ran out, took it away: the value is out of date or someone else computes), then
 * releases it. Waiters hear of both changes (tracking: they read both keys in
 * READ_OR_LOCK) or of the bus message the caller publishes. The value is tracked for the
 * writer around its write (see above). Answers 1 when written, 0 when not.
 */
export const FILL = script('FILL', `${FILL_ONE}return fill(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3])`)

/**
 * {@link FILL} for the values a batch computed, in one round trip: the same write for
 * each key, in order. KEYS: value, lock, value, lock, ... (one hash slot on a Cluster).
 * ARGV per key: token, value, PX (ms). Answers 1 or 0 per key.
 */
export const FILL_MANY = script(
  'FILL MANY',
  `${FILL_ONE}local out = {}
for i = 1, #KEYS / 2 do
  local a = (i - 1) * 3
  out[i] = fill(KEYS[2 * i - 1], KEYS[2 * i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3])
end
return out`,
)

/**
 * A stored value's life extended in place (a conditional refresh found it not modified),
 * in one round trip. KEYS: value, lock. ARGV: token, the value's `created` as its header
 * writes it, new `freshUntil`, new `staleUntil`, PX (ms). Only while `token` holds the
 * lock, and only an unsigned envelope (flags 0 or 1: a signature covers the header, and
 * only the client can sign) whose `created` is ARGV[2]: its header's two times are
 * replaced, every other byte kept, and the key written again with the new expiry; the
 * lock is released whatever was found. Tracked for the writer around the write, as FILL.
 * Answers 1 when renewed, 0 when not.
 */
export const RENEW = script(
  'RENEW',
  `if redis.call('get', KEYS[2]) ~= ARGV[1] then return 0 end
local v = redis.call('get', KEYS[1])
local renewed = 0
if v then
  local s, e, flags, codec, created = string.find(v, '^MR1 ([01]) (%S+) (%S+) %S+ %S+ ')
  if s and created == ARGV[2] then
    local head = 'MR1 ' .. flags .. ' ' .. codec .. ' ' .. created .. ' ' .. ARGV[3] .. ' ' .. ARGV[4] .. ' '
    redis.call('set', KEYS[1], head .. string.sub(v, e + 1), 'PX', ARGV[5])
    redis.call('pttl', KEYS[1])
    renewed = 1
  end
end
redis.call('del', KEYS[2])
return renewed`,
)

/**
 * A plain write of a given value (`cache.set`), tracked for the writer around it (see
 * above). KEYS: value. ARGV: value, PX (ms).
 */
export const SET_TRACKED = script(
  'SET',
  `redis.call('pttl', KEYS[1])
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('pttl', KEYS[1])
return 1`,
)

/**
 * The write of a value computed without the lock (Redis was down when it started, the
 * wait for the holder ran out, or it landed after its hard timeout). KEYS: value, lock.
 * ARGV: value, PX (ms), the value's `created`. Writes only while nobody holds the lock (a
 * holder computes a newer value and will write it) and over no value computed later
 * than ours (by its envelope header). Its read of the value tracks it before the write,
 * and the write is tracked after (see above). Answers 1 when written, 0 when not.
 */
export const SET_UNLESS_LOCKED = script(
  'SET UNLESS LOCKED',
  `if redis.call('get', KEYS[2]) then return 0 end
local v = redis.call('get', KEYS[1])
if v then
  local created = string.match(v, '^MR1 %d+ %S+ (%S+) ')
  if created and tonumber(created) > tonumber(ARGV[3]) then return 0 end
end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('pttl', KEYS[1])
return 1`,
)

/** Releases a lock only if `token` (ARGV[1]) still holds it: compare-and-delete. */
export const UNLOCK = script(
  'UNLOCK',
  `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`,
)

/** Extends a lock by ARGV[2] ms only if `token` (ARGV[1]) still holds it. */
export const EXTEND = script(
  'LOCK EXTEND',
  `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0`,
)

/** Lua: a stamp or floor as stored (`<hard>` or `<hard> <soft>`) as two numbers; nil, nil when it is not one. */
const PAIR = `local function pair(v)
  local a, b = string.match(v or '', '^(%S+) ?(%S*)$')
  local h = tonumber(a or '')
  if not h then return nil, nil end
  return h, math.max(h, tonumber(b or '') or h)
end
local function ms(x) return string.format('%.3f', x) end
`

/**
 * Stamps a tag with the server's clock, never moving it back and never ahead of the
 * clock, and raises its bucket's floor to it. KEYS: stamp, its bucket's floor (one hash
 * slot). ARGV: '1' for a soft stamp. A stamp is `<hard>` or `<hard> <soft>` (server ms,
 * the soft one later): a value created at or before the hard stamp is gone, one created
 * at or before the soft one is stale but kept as a fallback. A hard stamp sets both
 * (written as one number); a soft one moves only the soft part. A floor has the same two
 * parts, the newest hard and the newest soft stamp its bucket ever had, and a missing
 * stamp counts as its floor (see `STAMP_OR_FLOOR`), so a soft stamp lost to eviction is
 * still a soft one, never "never invalidated". No expiry: a stamp is a few bytes, and an
 * entry of any ttl may still read it.
 * The stamp is read again after the write (`PTTL`), so that client tracking follows it for
 * this process, which keeps it: the next stamp by anyone is heard. A floor found missing
 * (evicted) counts as now, hard, later than any stamp ever set. Answers the stamp as written.
 */
export const STAMP = script(
  'TAG STAMP',
  PAIR +
    `local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local fh, fs = pair(redis.call('get', KEYS[2]))
local hard, soft = pair(redis.call('get', KEYS[1]))
if not hard then hard, soft = fh or now, fs or now end
if soft > now then now = soft end
local stamp = ms(now)
if ARGV[1] == '1' and hard < now then stamp = ms(hard) .. ' ' .. stamp end
redis.call('set', KEYS[1], stamp)
if not fh then redis.call('set', KEYS[2], ms(now))
elseif ARGV[1] ~= '1' then
  if fh < now then redis.call('set', KEYS[2], ms(now)) end
elseif fs < now then redis.call('set', KEYS[2], ms(fh) .. ' ' .. ms(now)) end
redis.call('pttl', KEYS[1])
return stamp`,
)

/**
 * What a stamp found missing by a GET counts as. KEYS: stamp, its bucket's floor. A
 * missing stamp was never set, or was taken by eviction (they look alike); either way it
 * is at most its bucket's floor, the newest hard and soft stamps the bucket ever had,
 * which is returned as stored (or the stamp, set meanwhile). A floor missing too
 * (evicted) is set to now, and that is the answer: the loss costs the values the stamp
 * covers one recomputation, and brings back no value it had invalidated. Both keys are
 * named, so client tracking follows the stamp for this process: its next stamp is heard.
 */
export const STAMP_OR_FLOOR = script(
  'TAG STAMP OR FLOOR',
  `local v = redis.call('get', KEYS[1])
if v and tonumber(string.match(v, '^%S+') or '') then return v end
local floor = redis.call('get', KEYS[2])
if floor and tonumber(string.match(floor, '^%S+') or '') then return floor end
local t = redis.call('time')
floor = string.format('%.3f', tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
redis.call('set', KEYS[2], floor)
return floor`,
)

/**
 * Sets a bucket's floor (KEYS[1]) to the server's clock unless it exists (`SET NX`: a
 * write without a read, so nothing is tracked and no echo comes back), and returns the
 * server's clock, which is at least the floor: a cache does so for every bucket on each
 * connection and after a flush, so that a tag never stamped reads as the floor, older
 * than the values computed since, rather than as now; the cache then takes that time as
 * seen (`ServerClock.saw`), so that nothing it computes is dated before a floor.
 */
export const FLOOR = script(
  'TAG FLOOR',
  `local t = redis.call('time')
local now = string.format('%.3f', tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000)
redis.call('set', KEYS[1], now, 'NX')
return now`,
)

/**
 * A soft delete: the value made stale, kept as a fallback. KEYS: value, lock. ARGV: the
 * first line of the value as the caller read it (its envelope header), the same value
 * re-encoded as stale, PX (ms). The lock is deleted (a computation under way stores
 * nothing, as with a delete); the stale value replaces the stored one only if that is
 * still the one read (same header), else the stored one is deleted: a value written
 * meanwhile may have been computed before the delete. Tracked for the writer around the
 * write (see above). Answers 1 when written, 0 when not.
 */
export const EXPIRE = script(
  'EXPIRE VALUE',
  `redis.call('del', KEYS[2])
local v = redis.call('get', KEYS[1])
if not v then return 0 end
if string.sub(v, 1, #ARGV[1]) ~= ARGV[1] then
  redis.call('del', KEYS[1])
  return 0
end
redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('pttl', KEYS[1])
return 1`,
)
