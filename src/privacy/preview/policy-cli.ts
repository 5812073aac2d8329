/**
 * `thingiq policy check` and `thingiq policy preview`, as functions of their
 * options and an output sink, so tests run them in-process. Both return the
 * process exit code (0 ok, 1 problems).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { loadConfig } from '../../config/load.ts';
import { isTiqError } from '../../errors.ts';
import type { DeviceGroups } from '../compile-policy.ts';
import { privacySourcesFromConfig } from '../config-sources.ts';
import { PrivacyConfigSchema } from '../../config/policy-config.ts';
import { ANY_TENANT, validatePolicyFileText } from '../policy-file.ts';
import { formatPreviewTable } from './preview-table.ts';
import { renderPreviewSvg } from './preview-svg.ts';
import { runPreview, type PreviewRow } from './run-preview.ts';
import { readTrace } from './trace-reader.ts';

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

export const PROCESS_IO: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

/** With `json`, one JSON object on stdout: `{ok, file, problems}` or `{ok, file, policies}`. */
export function runPolicyCheck(file: string, io: CliIo, json = false): number {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (err) { io.err(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`); return 1; }
  const result = validatePolicyFileText(text);
  if (json) {
    const policies = [...result.policies].map(([t, p]) => ({ tenant: t === ANY_TENANT ? null : t, policyId: p.policyId, version: p.version }));
    io.out(JSON.stringify(result.problems.length > 0 ? { ok: false, file, problems: result.problems } : { ok: true, file, policies }));
    return result.problems.length > 0 ? 1 : 0;
  }
  if (result.problems.length > 0) {
    io.err(`${file}: TIQ_ERR_POLICY_INVALID, ${result.problems.length} problem(s):`);
    for (const p of result.problems) io.err(`  ${p}`);
    return 1;
  }
  const summary = [...result.policies].map(([t, p]) => `${t === ANY_TENANT ? '' : `${t}: `}${p.policyId} v${p.version}`).join(', ');
  io.out(`OK ${file} (${summary})`);
  return 0;
}

export interface PreviewCliOptions {
  readonly tenant: string;
  readonly device?: string | undefined;
  readonly stream?: string | undefined;
  readonly trace: string;
  readonly svg?: string | undefined;
  readonly policy?: string | undefined;
  /** The global --config option. */
  readonly config?: string | undefined;
  /** Rows as one JSON array instead of the table. */
  readonly json?: boolean | undefined;
}

type PolicySource = { privacy: unknown; deviceGroups: DeviceGroups } | { problems: readonly string[] };

function policySource(o: PreviewCliOptions): PolicySource {
  if (o.policy) {
    const file = validatePolicyFileText(readFileSync(o.policy, 'utf8'));
    if (file.problems.length > 0) return { problems: file.problems };
    const source = file.form === 'single' ? file.sources[ANY_TENANT] : file.sources[o.tenant];
    if (!source) return { problems: [`${o.policy}: no tenant ${o.tenant} in the policy file`] };
    return { privacy: source.privacy, deviceGroups: source.deviceGroups ?? {} };
  }
  const { config } = loadConfig(o.config);
  const source = privacySourcesFromConfig(config)[o.tenant];
  if (!source) return { problems: [`tenant ${o.tenant} is not in the configuration`] };
  if (source.privacy === undefined) return { problems: [`tenant ${o.tenant} has no privacy policy in the configuration`] };
  return { privacy: source.privacy, deviceGroups: source.deviceGroups ?? {} };
}

/** As the admin API's preview answers: dropped points have `after: null`; 64-bit fields as strings. */
function previewJson(rows: readonly PreviewRow[]): string {
  const plain = rows.map((r) => ({ index: r.index, before: r.before, after: r.after ?? null, applied: r.applied, dropReason: r.dropReason ?? null }));
  return JSON.stringify(plain, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
}

export function runPolicyPreview(o: PreviewCliOptions, io: CliIo): number {
  try {
    const source = policySource(o);
    if ('problems' in source) { for (const p of source.problems) io.err(p); return 1; }
    const deviceId = o.device ?? 'preview-device';
    const rows = runPreview({ ...source, tenantId: o.tenant, deviceId, stream: o.stream }, readTrace(readFileSync(o.trace, 'utf8')));
    io.out(o.json ? previewJson(rows) : formatPreviewTable(rows));
    if (o.svg) {
      writeFileSync(o.svg, renderPreviewSvg(rows, PrivacyConfigSchema.parse(source.privacy), source.deviceGroups, deviceId, o.stream));
      if (!o.json) io.out(`SVG written to ${o.svg}`);
    }
    return 0;
  } catch (err) {
    if (!isTiqError(err)) throw err;
    io.err(err.message);
    const problems = err.detail?.problems;
    if (Array.isArray(problems)) for (const p of problems) io.err(`  ${String(p)}`);
    return 1;
  }
}
