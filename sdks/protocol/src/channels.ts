/**
 * Channel names and patterns (docs/protocol.md#5-channels-and-tokens).
 *
 * A channel name is 1 to 200 characters of `A-Z a-z 0-9 _ - = @ , . ; :`, other than `.` and `..`
 * (which a URL path would resolve away: /v1/channels/./history is refused, so the names are too).
 * A pattern is a channel name in which `*` matches any run of characters (including none).
 */

export const MAX_CHANNEL_LENGTH = 200;
export const PRESENCE_PREFIX = 'presence-';
/** The message of every `bad_channel` error. */
export const BAD_CHANNEL_MESSAGE = 'channel names are 1 to 200 characters of A-Z a-z 0-9 _ - = @ , . ; : (not "." or "..")';

const CHANNEL_RE = /^[A-Za-z0-9_\-=@,.;:]{1,200}$/;
const PATTERN_RE = /^[A-Za-z0-9_\-=@,.;:*]{1,200}$/;

export function isValidChannel(name: unknown): name is string {
  return typeof name === 'string' && CHANNEL_RE.test(name) && name !== '.' && name !== '..';
}

export function isValidPattern(pattern: unknown): pattern is string {
  return typeof pattern === 'string' && PATTERN_RE.test(pattern);
}

export function isPresenceChannel(name: string): boolean {
  return name.startsWith(PRESENCE_PREFIX);
}

/** Whether `channel` matches `pattern` (`*` matches any run of characters, everything else literally). */
export function matchPattern(pattern: string, channel: string): boolean {
  const star = pattern.indexOf('*');
  if (star === -1) return pattern === channel;
  if (pattern === '*') return true;
  // Glob match without building a RegExp: anchored prefix, anchored suffix, ordered middle parts.
  const parts = pattern.split('*');
  const first = parts[0]!;
  const last = parts[parts.length - 1]!;
  if (channel.length < first.length + last.length) return false;
  if (!channel.startsWith(first) || !channel.endsWith(last)) return false;
  let pos = first.length;
  const end = channel.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    const at = channel.indexOf(part, pos);
    if (at === -1 || at + part.length > end) return false;
    pos = at + part.length;
  }
  return pos <= end;
}

/** Whether any of `patterns` matches `channel`. */
export function matchAny(patterns: readonly string[], channel: string): boolean {
  for (const p of patterns) if (matchPattern(p, channel)) return true;
  return false;
}
