/**
 * The machine probe (`probe.ts`) in a process of its own, as the bench runs its measurements:
 * nothing of the bench's own heap or clients is around it. Prints `{ "ms": … }`.
 */
import { probeMachine } from './probe.js';

console.log(JSON.stringify({ ms: probeMachine() }));
