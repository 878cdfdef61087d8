import { describe, expect, it } from 'vitest';
import type { Member } from '../engines/presence.js';
import { memberJson } from './frames.js';
import { PresenceViews, type MemberChange } from './presence-views.js';

const ch = 'presence-v';
const m = (userId: string, info: Record<string, unknown> = {}): Member => ({ userId, info });
const change = (action: 'join' | 'leave', member: Member): MemberChange => ({ action, userId: member.userId, member: memberJson(member) });
const text = (changes: MemberChange[]) => changes.map((c) => `${c.action} ${c.member}`);

/** A view told `members` as its first list. */
function told(members: Member[]): PresenceViews {
  const views = new PresenceViews();
  views.entryAdded(ch);
  views.firstList(ch)!(members);
  return views;
}

describe('PresenceViews', () => {
  it('answers the joins and leaves since what was told: the first list, then the changes delivered', async () => {
    const views = told([m('a'), m('b')]);
    views.delivered(ch, change('join', m('c')));
    views.delivered(ch, change('leave', m('a')));
    // Now told: b, c. Read: b (new info), d.
    const changes = await views.diff(ch, async () => [m('b', { v: 2 }), m('d')]);
    expect(text(changes)).toEqual([
      `leave ${memberJson(m('c'))}`,
      `leave ${memberJson(m('b'))}`,
      `join ${memberJson(m('b', { v: 2 }))}`,
      `join ${memberJson(m('d'))}`,
    ]);
    // Nothing when the list read is what was told.
    expect(await views.diff(ch, async () => [m('c'), m('b')])).toEqual([]);
  });

  it('leaves out a user a frame arrived for while the list was read', async () => {
    const views = told([m('a')]);
    const changes = await views.diff(ch, async () => {
      views.arrived(ch, 'a'); // a's leave is on its way through the window
      views.arrived(ch, 'b'); // b's join too
      return [m('b'), m('c')];
    });
    expect(text(changes)).toEqual([`join ${memberJson(m('c'))}`]);
  });

  it('applies the changes delivered while the first list was read on top of it', async () => {
    const views = new PresenceViews();
    views.entryAdded(ch);
    const first = views.firstList(ch)!;
    expect(views.firstList(ch)).toBeUndefined(); // one first list at a time
    views.delivered(ch, change('join', m('late')));
    first([m('a')]);
    expect(await views.diff(ch, async () => [m('a'), m('late')])).toEqual([]);
  });

  it('answers nothing before a first list, and forgets a channel with its last local entry', async () => {
    const views = new PresenceViews();
    views.entryAdded(ch);
    expect(await views.diff(ch, async () => [m('a')])).toEqual([]);
    views.firstList(ch)!(undefined); // the read failed: still nothing told
    expect(await views.diff(ch, async () => [m('a')])).toEqual([]);
    views.firstList(ch)!([]);
    views.entryAdded(ch);
    views.entryRemoved(ch);
    expect(views.channels()).toEqual([ch]);
    views.entryRemoved(ch);
    expect(views.channels()).toEqual([]);
    views.entryAdded(ch);
    expect(await views.diff(ch, async () => [m('a')])).toEqual([]); // a new view: nothing told yet
  });

  it('takes a whole list given to the subscribers (reset) as what they were told', async () => {
    const views = told([m('a')]);
    views.reset(ch, [m('b')]);
    expect(text(await views.diff(ch, async () => [m('a')]))).toEqual([`leave ${memberJson(m('b'))}`, `join ${memberJson(m('a'))}`]);
  });
});
