/**
 * Runs a policy over a recorded trace with the real engine, point by point.
 * The schedule is evaluated at each point's own time, as if it had arrived
 * when it was recorded.
 */
import type { AppliedPolicy } from '../../records/message.ts';
import type { DeviceGroups } from '../compile-policy.ts';
import { createPrivacyEngine } from '../privacy-engine.ts';
import { createInMemoryPrivateModeState } from '../private-mode.ts';
import type { RandomSource } from '../random.ts';
import type { TraceBody } from './trace-reader.ts';

export interface PreviewRow {
  readonly index: number;
  readonly before: TraceBody;
  /** Undefined when the message was dropped. */
  readonly after: TraceBody | undefined;
  readonly applied: AppliedPolicy;
  readonly dropReason: string | undefined;
}

export interface PreviewOptions {
  readonly privacy: unknown;
  readonly deviceGroups?: DeviceGroups | undefined;
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream?: string | undefined;
  readonly random?: RandomSource | undefined;
}

export function runPreview(options: PreviewOptions, points: readonly TraceBody[]): PreviewRow[] {
  const engine = createPrivacyEngine({
    tenants: { [options.tenantId]: { privacy: options.privacy, deviceGroups: options.deviceGroups } },
    privateMode: createInMemoryPrivateModeState(),
    random: options.random,
  });
  return points.map((before, index) => {
    const body = structuredClone(before);
    const t = typeof before.timeUnixMs === 'number' ? before.timeUnixMs : Date.now();
    const outcome = engine.apply({
      tenantId: options.tenantId, deviceId: options.deviceId, stream: options.stream ?? 'location',
      messageType: 'thingiq.telemetry.v1.VehicleLocation', receivedAtMs: t, body,
    });
    const dropped = outcome.kind === 'drop';
    return { index, before, after: dropped ? undefined : body, applied: outcome.applied, dropReason: dropped ? outcome.reason : undefined };
  });
}
