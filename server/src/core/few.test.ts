import { describe, expect, it } from 'vitest';
import { fewAdd, fewDelete, fewHas, fewList, fewSize, type Few } from './few.js';

describe('Few', () => {
  it('holds nothing as null, one member as itself, more in a Set, and shrinks back', () => {
    let f: Few<string> = null;
    expect(fewSize(f)).toBe(0);
    f = fewAdd(f, 'a');
    expect(f).toBe('a');
    expect(fewAdd(f, 'a')).toBe('a');
    f = fewAdd(f, 'b');
    expect(f).toBeInstanceOf(Set);
    f = fewAdd(f, 'c');
    expect(fewSize(f)).toBe(3);
    expect(fewHas(f, 'b')).toBe(true);
    expect(fewList(f)).toEqual(['a', 'b', 'c']);
    f = fewDelete(f, 'a');
    f = fewDelete(f, 'x');
    expect(fewList(f)).toEqual(['b', 'c']);
    f = fewDelete(f, 'b');
    expect(f).toBe('c');
    expect(fewDelete(f, 'x')).toBe('c');
    f = fewDelete(f, 'c');
    expect(f).toBeNull();
    expect(fewHas(f, 'c')).toBe(false);
    expect(fewList(f)).toEqual([]);
  });
});
