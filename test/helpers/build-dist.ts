/**
 * Vitest global setup: tests that spawn the real `thingiq` command run the
 * compiled dist/, so it is brought up to date once before any test starts
 * (the command would rebuild on its own, but inside a test's time limit).
 */
// @ts-expect-error: a plain JavaScript module without type declarations.
import { ensureBuilt } from '../../bin/build.js';

export default function setup(): void {
  (ensureBuilt as () => void)();
}
