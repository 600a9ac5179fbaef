#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx), so `npx paperboy` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
await main();
