/**
 * Turns a validated PrivacyConfig into lookup tables and closures once, at
 * load, so that applying it to a message is a few map lookups and arithmetic.
 */
import type { Coarsener } from './geo/cell.ts';
import { createCoarsener } from './geo/coarsener.ts';
import { compileFieldOp, type FieldOp } from './location-fields.ts';
import type { PrivacyConfig } from '../config/policy-config.ts';
import { LEAKING_FIELDS, type LocationAction, type Rule, type StreamRules } from '../config/rule-config.ts';
import { compileSchedule, type CompiledSchedule } from './schedule.ts';
import { compileZones, type CompiledZone } from './zones.ts';

export interface CompiledRule {
  readonly action: LocationAction;
  readonly coarsener: Coarsener | undefined;
  readonly fieldOps: readonly FieldOp[];
  readonly timeStepMs: number;
  readonly noise: { readonly epsilonPerM: number; readonly stickyRadiusM: number } | undefined;
}

/** Rules of one device (or of every device without overrides), resolved per stream. */
export interface RuleTable {
  readonly byStream: ReadonlyMap<string, CompiledRule>;
  /** For streams no layer names. */
  readonly any: CompiledRule;
}

export interface CompiledPolicy {
  readonly policyId: string;
  readonly policyVersion: number;
  readonly zones: readonly CompiledZone[];
  readonly schedule: CompiledSchedule | undefined;
  readonly privateModeAction: 'strip' | 'drop';
  ruleFor(deviceId: string, stream: string): CompiledRule;
}

export type DeviceGroups = Readonly<Record<string, readonly string[]>>;

export function compileRule(rule: Rule): CompiledRule {
  // Unset leaking fields: kept under keep, stripped under coarsen (see rule-config.ts).
  const unset = rule.action === 'keep' ? 'keep' : 'strip';
  const fieldOps = LEAKING_FIELDS.map((f) => compileFieldOp(f, rule.fields?.[f] ?? unset))
    .filter((op) => op.strip || op.step > 0);
  return {
    action: rule.action,
    coarsener: rule.coarsen ? createCoarsener(rule.coarsen) : undefined,
    fieldOps,
    timeStepMs: rule.timeStepMs ?? 0,
    noise: rule.geoIndistinguishability,
  };
}

/** Layers from most to least specific; the first naming the stream (else `*`) wins. */
function buildTable(layers: readonly StreamRules[], cache: Map<Rule, CompiledRule>): RuleTable {
  const compiled = (r: Rule): CompiledRule => {
    let c = cache.get(r);
    if (!c) { c = compileRule(r); cache.set(r, c); }
    return c;
  };
  const resolve = (stream: string): Rule | undefined => {
    for (const layer of layers) {
      const r = layer[stream] ?? layer['*'];
      if (r) return r;
    }
    return undefined;
  };
  const streams = new Set(layers.flatMap((l) => Object.keys(l)).filter((s) => s !== '*'));
  const byStream = new Map<string, CompiledRule>();
  for (const s of streams) {
    const r = resolve(s);
    if (r) byStream.set(s, compiled(r));
  }
  const anyRule = resolve('\0');
  if (!anyRule) throw new Error('defaults has no "*" rule'); // the schema refuses such configs
  return { byStream, any: compiled(anyRule) };
}

export function compilePolicy(config: PrivacyConfig, deviceGroups: DeviceGroups): CompiledPolicy {
  const cache = new Map<Rule, CompiledRule>();
  const defaults = buildTable([config.defaults], cache);
  const firstGroupOf = new Map<string, StreamRules>();
  for (const g of config.groups) {
    for (const device of deviceGroups[g.group] ?? []) if (!firstGroupOf.has(device)) firstGroupOf.set(device, g.rules);
  }
  const perDevice = new Map<string, RuleTable>();
  const devices = new Set([...firstGroupOf.keys(), ...Object.keys(config.devices)]);
  for (const d of devices) {
    const layers = [config.devices[d], firstGroupOf.get(d), config.defaults].filter((l): l is StreamRules => l !== undefined);
    perDevice.set(d, buildTable(layers, cache));
  }
  return {
    policyId: config.policyId,
    policyVersion: config.version,
    zones: compileZones(config.zones),
    schedule: config.schedule ? compileSchedule(config.schedule, config.timezone) : undefined,
    privateModeAction: config.privateMode.action,
    ruleFor(deviceId, stream) {
      const table = perDevice.get(deviceId) ?? defaults;
      return table.byStream.get(stream) ?? table.any;
    },
  };
}
