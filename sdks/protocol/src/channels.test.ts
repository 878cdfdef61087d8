import { describe, expect, it } from 'vitest';
import { isValidChannel, isValidPattern, matchAny, matchPattern } from './channels.js';

describe('channel names', () => {
  it('accepts the documented alphabet from 1 to 200 characters', () => {
    expect(isValidChannel('dogs')).toBe(true);
    expect(isValidChannel('presence-room_1=a@b,c.d;e:f')).toBe(true);
    expect(isValidChannel('x'.repeat(200))).toBe(true);
    // '.' and '..' would be dot segments in /v1/channels/{channel}: refused everywhere (issue 14).
    expect(isValidChannel('.')).toBe(false);
    expect(isValidChannel('..')).toBe(false);
    expect(isValidChannel('...')).toBe(true);
  });
  it('refuses empty, too long, and other characters', () => {
    for (const bad of ['', 'x'.repeat(201), 'a b', 'a/b', 'é', 'a*b', 'a#b', 42, null]) {
      expect(isValidChannel(bad)).toBe(false);
    }
  });
  it('allows * in patterns only', () => {
    expect(isValidPattern('doc-*')).toBe(true);
    expect(isValidPattern('doc-?')).toBe(false);
  });
});

describe('matchPattern', () => {
  it.each([
    ['*', 'anything', true],
    ['dogs', 'dogs', true],
    ['dogs', 'dogs2', false],
    ['doc-*', 'doc-1', true],
    ['doc-*', 'doc-', true],
    ['doc-*', 'do', false],
    ['*-room', 'presence-room', true],
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'acb', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['presence-room-*', 'presence-room-42', true],
    ['presence-room-*', 'room-42', false],
  ])('%s ~ %s = %s', (pattern, channel, expected) => {
    expect(matchPattern(pattern, channel)).toBe(expected);
  });
  it('matchAny is true when one pattern matches', () => {
    expect(matchAny(['cats', 'dog*'], 'dogs')).toBe(true);
    expect(matchAny([], 'dogs')).toBe(false);
  });
});
