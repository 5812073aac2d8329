/**
 * The seam between the pipeline and the privacy engine.
 *
 * The engine is given the decoded body and returns what may leave the process:
 * the body rewritten in place (location kept, coarsened or stripped, leaking
 * fields handled) or a drop. Pre-policy location must not survive anywhere in
 * a forwarded body.
 */
import type { AppliedPolicy, TelemetryBody } from '../records/message.ts';

export interface PrivacyInput {
  readonly tenantId: string;
  readonly deviceId: string;
  readonly stream: string;
  readonly messageType: string;
  readonly receivedAtMs: number;
  /** Rewritten in place. */
  readonly body: TelemetryBody;
}

/**
 * `timeStepMs` (0 or absent: none) is the policy's time step: every time stored
 * beside the record (receive time, expiry, the record id's time part) is
 * floored to it, so storage never holds a finer clock than the body does.
 */
export type PrivacyOutcome =
  | { readonly kind: 'forward'; readonly applied: AppliedPolicy; readonly timeStepMs?: number }
  | { readonly kind: 'drop'; readonly applied: AppliedPolicy; readonly reason: string; readonly timeStepMs?: number };

export interface PrivacyEngine {
  apply(input: PrivacyInput): PrivacyOutcome;
}

/** Used until a tenant has a policy: location kept as sent. */
export const KEEP_ALL_POLICY: PrivacyEngine = {
  apply() {
    return { kind: 'forward', applied: { policyId: 'none', policyVersion: 0, locationAction: 'keep' } };
  },
};
