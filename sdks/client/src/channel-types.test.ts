// Type tests of the channel API: checked by tsc (the root `tsc -p tsconfig.json`, and the last test
// below compiles this file on its own), where every `@ts-expect-error` must meet an error. At run
// time the listeners are only registered.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Member, MessageMeta, RiverError, SubscribedInfo } from './index.js';
import { River } from './river.js';
import { FakeSocket } from './test-fakes.js';

interface ChatEvents {
  message: { text: string; from: string };
  typing: { userId: string };
}
interface Info {
  name: string;
  avatar?: string;
}

const river = new River({ url: 'ws://river.test/v1/ws', token: 'h.p.s', WebSocket: FakeSocket, autoConnect: false, network: null });

describe('an event map: river.subscribe<Events>()', () => {
  it('types each event data and the meta, and refuses unknown events and wrong payloads', () => {
    const chat = river.subscribe<ChatEvents>('chat');
    chat.on('message', (data, meta) => {
      expectTypeOf(data).toEqualTypeOf<{ text: string; from: string }>();
      expectTypeOf(meta).toEqualTypeOf<MessageMeta>();
    });
    chat.on('typing', (data) => expectTypeOf(data.userId).toBeString());
    chat.on('*', (data) => expectTypeOf(data).toEqualTypeOf<ChatEvents[keyof ChatEvents]>());
    // @ts-expect-error an event the map does not have
    chat.on('mesage', () => {});
    // @ts-expect-error the payload of `message` has no `body`
    chat.on('message', (data) => data.body);
    // @ts-expect-error a listener expecting another payload
    chat.on('typing', (data: { text: string }) => data);
  });

  it('reserved events keep their own types, and a typo of one is a compile error', () => {
    const chat = river.subscribe<ChatEvents>('chat');
    chat.on('subscribed', (info) => expectTypeOf(info).toEqualTypeOf<SubscribedInfo>());
    chat.on('recovered', ({ recovered }) => expectTypeOf(recovered).toBeBoolean());
    chat.on('error', (error) => expectTypeOf(error).toEqualTypeOf<RiverError>());
    // @ts-expect-error typo of a reserved event
    chat.on('member-addded', () => {});
    // @ts-expect-error typo of a reserved event
    chat.on('recoverd', () => {});
  });

  it('an event map may not declare a reserved name', () => {
    // @ts-expect-error `error` is River's own event
    river.subscribe<{ error: string }>('x');
    // @ts-expect-error `member-added` is River's own event
    river.subscribe<{ 'member-added': { id: string } }>('y');
    // @ts-expect-error `*` means every event
    river.subscribe<{ '*': number }>('z');
  });
});

describe('presence info: river.subscribe<Events, Info>()', () => {
  it('types members and the member events', () => {
    const room = river.subscribe<ChatEvents, Info>('presence-room');
    expectTypeOf(room.members).toEqualTypeOf<Member<Info>[]>();
    expectTypeOf<(typeof room.members)[number]['info']['name']>().toBeString();
    room.on('member-added', (m) => expectTypeOf(m).toEqualTypeOf<{ userId: string; info: Info }>());
    room.on('member-removed', (m) => expectTypeOf(m.info.avatar).toEqualTypeOf<string | undefined>());
    // @ts-expect-error Info has no `age`
    room.on('member-added', (m) => m.info.age);
  });
});

describe('without an event map', () => {
  it('any event name, data unknown unless the listener says, reserved events typed', () => {
    const dogs = river.subscribe('dogs');
    dogs.on('new-post', (data) => expectTypeOf(data).toBeUnknown());
    dogs.on('new-post', (post: { title: string }) => post.title);
    dogs.on('member-added', (m) => expectTypeOf(m.info).toEqualTypeOf<Record<string, unknown>>());
    expectTypeOf(dogs.members).toEqualTypeOf<Member[]>();
  });
});

describe('the token option', () => {
  it("takes a JWT, a function returning one, or fetch's Response (sync or async)", () => {
    const base = { url: 'ws://river.test/v1/ws', WebSocket: FakeSocket, autoConnect: false, network: null } as const;
    new River({ ...base, token: () => fetch('http://127.0.0.1:9/river-token') });
    new River({ ...base, token: async () => (await fetch('http://127.0.0.1:9/river-token')).text() });
    new River({ ...base, token: () => 'h.p.s' });
    // @ts-expect-error a number is not a token
    new River({ ...base, token: async () => 42 });
  });
});

it('this file compiles with tsc on its own: every @ts-expect-error meets an error, nothing else fails', () => {
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const file = fileURLToPath(import.meta.url);
  const args = [
    '--ignoreConfig',
    '--noEmit',
    '--strict',
    '--skipLibCheck',
    '--target',
    'es2022',
    '--module',
    'nodenext',
    '--moduleResolution',
    'nodenext',
    '--lib',
    'es2023,dom',
    '--types',
    'node',
    file,
  ];
  let out = '';
  try {
    execFileSync(process.execPath, [tsc, ...args], { stdio: 'pipe', cwd: join(dirname(file), '..') });
  } catch (error) {
    out = String((error as { stdout?: Buffer }).stdout ?? error);
  }
  expect(out).toBe('');
}, 60_000);
