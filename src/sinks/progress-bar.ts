/** A one-line progress bar for long exports; drawn only on a terminal so pipes and logs stay clean. */
import type { Writable } from 'node:stream';

const WIDTH = 30;

export function progressBar(out: Writable & { isTTY?: boolean }, label: string): { update(done: number, total: number): void; end(): void } {
  if (!out.isTTY) return { update: () => {}, end: () => {} };
  return {
    update(done, total) {
      const ratio = total > 0 ? Math.min(1, done / total) : 1;
      const filled = Math.round(ratio * WIDTH);
      out.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${Math.round(ratio * 100)}% ${done}/${total}`);
    },
    end() {
      out.write('\n');
    },
  };
}
