/**
 * The machine probe (`probe.ts`) in a process of its own, as the bench runs it: the bench's own
 * heap (its store section's papers, its clients) would slow it down. Prints `{ "ms": … }`.
 */
import { probeMachine } from './probe.js';

console.log(JSON.stringify({ ms: probeMachine() }));
