/**
 * Import rules for src/, run by `npm run lint`. The layers, from the bottom:
 *   base      errors.ts, log.ts, records/
 *   config    config/ (each component's config slice and the composed schema)
 *   domain    identity, keys, privacy, messages, limits, pipeline, pki, audit, observability, control
 *   adapters  broker, sinks, admin, retention, simulator, instance, backup, cluster
 *   wiring    gateway/ (the composition root) and cli/
 * A layer imports only from itself and the layers below it. docs/architecture.md
 * describes each layer; test/architecture/layers.test.ts also refuses cycles
 * between folders.
 */
const BASE = '^src/(errors\\.ts|log\\.ts|records/)';
const DOMAIN = '^src/(identity|keys|privacy|messages|limits|pipeline|pki|audit|observability|control)/';
const ADAPTERS = '^src/(broker|sinks|admin|retention|simulator|instance|backup|cluster)/';
const WIRING = '^src/(gateway|cli)/';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Modules that import each other, even for types only, cannot be read or tested apart.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'base-imports-base-only',
      severity: 'error',
      from: { path: BASE },
      to: { path: '^src/', pathNot: BASE },
    },
    {
      name: 'config-below-domain',
      severity: 'error',
      comment: 'config/ may use the id pattern of identity/, nothing above it.',
      from: { path: '^src/config/' },
      to: { path: '^src/', pathNot: `${BASE}|^src/config/|^src/identity/identity\\.ts$` },
    },
    {
      name: 'domain-below-adapters',
      severity: 'error',
      from: { path: DOMAIN },
      to: { path: `${ADAPTERS}|${WIRING}` },
    },
    {
      name: 'adapters-below-wiring',
      severity: 'error',
      from: { path: ADAPTERS },
      to: { path: WIRING },
    },
    {
      name: 'every-folder-has-a-layer',
      severity: 'error',
      comment: 'A new top-level folder or file in src/ must be placed in a layer here and in docs/architecture.md.',
      from: { path: '^src/' },
      to: { path: '^src/', pathNot: `${BASE}|^src/config/|${DOMAIN}|${ADAPTERS}|${WIRING}` },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: { path: '^src/' },
      to: { couldNotResolve: true, path: '^\\.' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
