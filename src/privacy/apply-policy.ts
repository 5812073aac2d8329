/**
 * One message through a compiled policy. Decision order (issue 3): private
 * mode → privacy zones → schedule → device / group / tenant rule; the first
 * that decides wins. Everything mutates `body` in place.
 */
import type { AppliedPolicy, TelemetryBody } from '../records/message.ts';
import type { CompiledPolicy, CompiledRule } from './compile-policy.ts';
import type { LatLon } from './geo/sphere.ts';
import type { StickyNoise } from './geo-indistinguishability.ts';
import {
  applyFieldOps, hasFlatLocation, nestedLocation, readLatLon, stripFlatPosition, stripLocation, writeLatLon,
} from './location-fields.ts';
import type { PrivacyInput, PrivacyOutcome } from './privacy-policy.ts';
import { zoneAt } from './zones.ts';

export type DropReason = 'private-mode' | 'privacy-zone' | 'outside-working-hours' | 'policy-rule';

interface Decision {
  action: 'keep' | 'coarsen' | 'strip' | 'drop';
  reason: DropReason;
}

export interface ApplyContext {
  readonly noise: StickyNoise;
  readonly scratch: LatLon;
}

function decide(policy: CompiledPolicy, rule: CompiledRule, input: PrivacyInput, privateOn: boolean, out: Decision, p: LatLon): Decision {
  if (privateOn) return set(out, policy.privateModeAction, 'private-mode');
  const body = input.body;
  const nested = nestedLocation(body);
  if (policy.zones.length > 0) {
    const zone = (readLatLon(body, p) ? zoneAt(policy.zones, p.lat, p.lon) : undefined)
      ?? (nested && readLatLon(nested, p) ? zoneAt(policy.zones, p.lat, p.lon) : undefined);
    if (zone) return set(out, zone.action, 'privacy-zone');
  }
  if (policy.schedule && !inWorkingHours(policy, input)) return set(out, policy.schedule.outside, 'outside-working-hours');
  return set(out, rule.action, 'policy-rule');
}

function set(out: Decision, action: Decision['action'], reason: DropReason): Decision {
  out.action = action;
  out.reason = reason;
  return out;
}

/**
 * Both clocks must be inside working hours: a fix recorded at night and sent
 * in the morning is still a night-time position, and a device clock alone
 * could be set to claim working time.
 */
function inWorkingHours(policy: CompiledPolicy, input: PrivacyInput): boolean {
  const schedule = policy.schedule!;
  if (!schedule.isWorking(input.receivedAtMs)) return false;
  const t = input.body.timeUnixMs;
  const deviceMs = typeof t === 'number' ? t : typeof t === 'string' ? Number(t) : Number.NaN;
  return !Number.isFinite(deviceMs) || schedule.isWorking(deviceMs);
}

/** Keeps or coarsens one lat/lon pair; false when the result falls in a zone and must go. */
function transformPoint(target: Record<string, unknown>, key: string, rule: CompiledRule, policy: CompiledPolicy, ctx: ApplyContext, coarsen: boolean): 'ok' | 'strip' | 'drop' | 'absent' {
  const p = ctx.scratch;
  if (!readLatLon(target, p)) return 'absent';
  if (rule.noise) ctx.noise.apply(key, p, rule.noise.epsilonPerM, rule.noise.stickyRadiusM);
  if (coarsen && rule.coarsener) rule.coarsener.snap(p);
  // A cell centre or a noisy point may land inside a zone the true point was outside of.
  const zone = (rule.noise || coarsen) && policy.zones.length > 0 ? zoneAt(policy.zones, p.lat, p.lon) : undefined;
  if (zone) return zone.action;
  writeLatLon(target, p);
  return 'ok';
}

function locationPresent(body: TelemetryBody): boolean {
  return hasFlatLocation(body) || nestedLocation(body) !== undefined;
}

const decision: Decision = { action: 'keep', reason: 'policy-rule' };

export function applyCompiledPolicy(policy: CompiledPolicy, input: PrivacyInput, privateOn: boolean, ctx: ApplyContext): PrivacyOutcome {
  const body = input.body;
  const rule = policy.ruleFor(input.deviceId, input.stream);
  const present = locationPresent(body);
  let { action, reason } = decide(policy, rule, input, privateOn, decision, ctx.scratch);
  if (action === 'keep' || action === 'coarsen') {
    const coarsen = action === 'coarsen';
    const key = `${input.tenantId}/${input.deviceId}/${input.stream}`;
    const flat = transformPoint(body, key, rule, policy, ctx, coarsen);
    const nested = nestedLocation(body);
    const inner = nested ? transformPoint(nested, `${key}/location`, rule, policy, ctx, coarsen) : 'absent';
    if (flat === 'drop' || inner === 'drop') { action = 'drop'; reason = 'privacy-zone'; }
    else if (flat === 'strip' || inner === 'strip') action = 'strip';
    else {
      if (flat === 'absent') stripFlatPosition(body); // half a pair is never forwarded
      if (nested && inner === 'absent') { delete nested.latitude; delete nested.longitude; }
      if (rule.noise && action === 'keep') action = 'coarsen';
      applyFieldOps(body, rule.fieldOps);
    }
  }
  if (action === 'strip') stripLocation(body);
  if (rule.timeStepMs > 0) coarsenTime(body, rule.timeStepMs);
  const applied: AppliedPolicy = {
    policyId: policy.policyId,
    policyVersion: policy.policyVersion,
    locationAction: action === 'drop' ? 'strip' : present ? action : 'none',
  };
  const step = rule.timeStepMs > 0 ? { timeStepMs: rule.timeStepMs } : undefined;
  return action === 'drop' ? { kind: 'drop', applied, reason, ...step } : { kind: 'forward', applied, ...step };
}

/** Floors the device timestamp to the step (numbers, or int64 strings as protobuf JSON allows). */
export function coarsenTime(body: TelemetryBody, stepMs: number): void {
  const t = body.timeUnixMs;
  if (typeof t === 'number') body.timeUnixMs = Math.floor(t / stepMs) * stepMs;
  else if (typeof t === 'string' && /^-?\d+$/.test(t)) body.timeUnixMs = String((BigInt(t) / BigInt(stepMs)) * BigInt(stepMs));
  else if (typeof t === 'bigint') body.timeUnixMs = (t / BigInt(stepMs)) * BigInt(stepMs);
}
