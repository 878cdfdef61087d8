import { describe, expect, it } from 'vitest';
import { parseClientFrame } from './frames.js';

describe('parseClientFrame', () => {
  it('parses a subscribe with since and echoes the id', () => {
    expect(parseClientFrame('{"type":"subscribe","channel":"dogs","since":{"offset":3,"epoch":"e1"},"id":7,"x":1}')).toEqual({
      ok: true,
      frame: { type: 'subscribe', channel: 'dogs', since: { offset: 3, epoch: 'e1' }, id: 7 },
    });
  });
  it('treats non-JSON and non-objects as fatal protocol errors', () => {
    for (const text of ['nope', '[1]', '5', 'null', '"x"']) {
      expect(parseClientFrame(text)).toMatchObject({ ok: false, fatal: true });
    }
  });
  it('answers unknown types and missing fields with bad_request, keeping the id', () => {
    expect(parseClientFrame('{"type":"dance","id":"a"}')).toMatchObject({ ok: false, fatal: false, code: 'bad_request', id: 'a' });
    expect(parseClientFrame('{"channel":"x"}')).toMatchObject({ ok: false, fatal: false, code: 'bad_request' });
    expect(parseClientFrame('{"type":"subscribe"}')).toMatchObject({ ok: false, fatal: false });
    expect(parseClientFrame('{"type":"subscribe","channel":"a","since":{"offset":-1,"epoch":"e"}}')).toMatchObject({
      ok: false,
      fatal: false,
    });
    expect(parseClientFrame('{"type":"publish","channel":"a","event":""}')).toMatchObject({ ok: false, fatal: false });
  });
  it('defaults publish data to null', () => {
    expect(parseClientFrame('{"type":"publish","channel":"a","event":"e"}')).toEqual({
      ok: true,
      frame: { type: 'publish', channel: 'a', event: 'e', data: null },
    });
  });
});
