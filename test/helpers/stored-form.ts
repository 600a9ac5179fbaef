import type { KeyvBackend } from '../../src/store/keyv-backends.js';

/**
 * Values whose JSON has what a serializer gets wrong: quotes, a backslash, a newline, non-ASCII,
 * non-integers, null, nesting. A backend's own `writeMany` must store them exactly as Keyv does.
 */
export const STORED_FORM_SAMPLES: readonly unknown[] = [
  { id: 'arxiv:2401.00001', title: 'Ünïcödé "quoted" \\ back\nline', n: [1, 2.5, -3], ok: true, none: null },
  'a string',
  12.75,
  [{ nested: { deep: ['x'] } }],
];

/** The sample's key `i`: one that Keyv's key encoding must keep as it is. */
export const sampleKey = (i: number): string => `k${i}%3A`;

/** Writes the samples through Keyv itself into `namespace`, one `set` each. */
export async function writeSamplesViaKeyv(backend: KeyvBackend, namespace: string): Promise<void> {
  const keyv = backend.keyv<unknown>(namespace);
  for (const [i, v] of STORED_FORM_SAMPLES.entries()) await keyv.set(sampleKey(i), v);
}
