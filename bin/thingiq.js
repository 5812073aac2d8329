#!/usr/bin/env node
// Entry point of the `thingiq` command: runs the compiled JavaScript in dist/,
// building it first when it is missing or older than the sources (a fresh
// clone, or a source edit). No TypeScript loader is involved at run time.
import { ensureBuilt } from './build.js';

try {
  ensureBuilt();
} catch (err) {
  console.error(`thingiq: ${err.message}`);
  process.exit(1);
}
await import('../dist/cli/main.js');
