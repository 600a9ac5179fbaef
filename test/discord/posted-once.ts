import { expect } from 'vitest';
import type { DiscordEmulator } from './emulator.js';

/**
 * After a restart resumed an interrupted digest: `channelId` (and its threads) shows each of the
 * `matches` papers once, and no message nonce was posted twice (a resend returned the first).
 */
export function expectPostedOnce(emulator: DiscordEmulator, channelId: string, matches: number): void {
  const titles = emulator.titles(channelId);
  expect(titles).toHaveLength(matches);
  expect(new Set(titles).size).toBe(matches);
  const nonces = emulator.allMessages().map((m) => m.nonce);
  expect(new Set(nonces).size).toBe(nonces.length);
}
