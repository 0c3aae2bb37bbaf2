/**
 * The request table's text: the method and URL written as UTF-8 by JavaScript for the addon to
 * read (src/loop/request-slots.ts), checked against Buffer's own encoder, and cut at a character
 * boundary when there is no room.
 */
import { writeUtf8 } from '../../src/loop/request-slots';

const samples = ['/plain?a=1&b=two', '/café/naïve', '/日本語/パス', '/emoji/😀/x', '/lone/\ud800/surrogate', ''];

test.each(samples)('%j is written as Buffer writes it', (value) => {
  const out = new Uint8Array(256);
  const n = writeUtf8(out, value, 3, 200);
  expect(Buffer.from(out.subarray(3, 3 + n)).equals(Buffer.from(value, 'utf8'))).toBe(true);
  expect(out[2]).toBe(0);
  expect(out[3 + n]).toBe(0);
});

test('cut at a character boundary when there is no room: a prefix that decodes', () => {
  const value = '/é日😀'.repeat(20);
  const whole = Buffer.from(value, 'utf8');
  for (let room = 0; room <= whole.length; room++) {
    const out = new Uint8Array(whole.length + 8);
    const n = writeUtf8(out, value, 0, room);
    expect(n).toBeLessThanOrEqual(room);
    // The longest prefix of whole characters that fits.
    expect(room - n).toBeLessThan(4);
    const written = Buffer.from(out.subarray(0, n));
    expect(whole.subarray(0, n).equals(written)).toBe(true);
    expect(Buffer.from(written.toString('utf8'), 'utf8').equals(written)).toBe(true);
  }
});
