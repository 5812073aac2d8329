/**
 * The folders of src/ are the architecture (docs/architecture.md): no two
 * folders may import each other, directly or around a longer circle, and
 * every folder has a layer. The module-level rules are in
 * .dependency-cruiser.cjs (npm run lint); this test reads the same import
 * graph and checks it one level up.
 */
import { createRequire } from 'node:module';
import { cruise, type IReporterOutput } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const rules = createRequire(import.meta.url)('../../.dependency-cruiser.cjs') as { options: Record<string, unknown> };

/** `src/keys/x.ts` → `keys`; `src/errors.ts` → `errors`. */
function folderOf(path: string): string | undefined {
  const m = /^src\/([^/]+?)(?:\.ts)?(?:\/|$)/.exec(path);
  return m?.[1];
}

async function folderGraph(): Promise<Map<string, Set<string>>> {
  const result: IReporterOutput = await cruise(['src'], { ...rules.options, validate: false, outputType: 'json' });
  const output = typeof result.output === 'string' ? JSON.parse(result.output) : result.output;
  const graph = new Map<string, Set<string>>();
  for (const m of output.modules as { source: string; dependencies: { resolved: string }[] }[]) {
    const from = folderOf(m.source);
    if (!from) continue;
    const edges = graph.get(from) ?? new Set<string>();
    graph.set(from, edges);
    for (const d of m.dependencies) {
      const to = folderOf(d.resolved);
      if (to && to !== from) edges.add(to);
    }
  }
  return graph;
}

/** A circle of folders if there is one (depth-first search), else undefined. */
function findCircle(graph: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done') return undefined;
    if (state.get(n) === 'open') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'open');
    path.push(n);
    for (const next of graph.get(n) ?? []) {
      const circle = visit(next);
      if (circle) return circle;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const circle = visit(n);
    if (circle) return circle;
  }
  return undefined;
}

const LAYERS: Record<string, number> = {
  errors: 0, log: 0, records: 0,
  config: 1,
  identity: 2, keys: 2, privacy: 2, messages: 2, limits: 2, pipeline: 2, pki: 2, audit: 2, observability: 2, control: 2,
  broker: 3, sinks: 3, admin: 3, retention: 3, simulator: 3, instance: 3, backup: 3, cluster: 3,
  gateway: 4, cli: 4,
};

describe('folder structure', () => {
  it('has no circle of imports between folders', async () => {
    expect(findCircle(await folderGraph())).toBeUndefined();
  }, 60_000);

  it('finds a circle when there is one (the check itself can fail)', () => {
    const g = new Map([['a', new Set(['b'])], ['b', new Set(['c'])], ['c', new Set(['a'])]]);
    expect(findCircle(g)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('places every folder in a layer, and no folder imports a higher layer', async () => {
    const graph = await folderGraph();
    const upward: string[] = [];
    for (const [from, tos] of graph) {
      expect(LAYERS[from], `src/${from} has no layer in docs/architecture.md`).toBeDefined();
      for (const to of tos) if ((LAYERS[to] ?? 99) > LAYERS[from]!) upward.push(`${from} -> ${to}`);
    }
    // config/ may read the id pattern of identity/ (the one exception the lint rules allow).
    expect(upward.filter((e) => e !== 'config -> identity')).toEqual([]);
  }, 60_000);
});
