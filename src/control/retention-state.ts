/**
 * Retention rules and legal holds in the control store (kinds
 * `retention-rule` and `legal-hold`), as the retention service reads and
 * writes them. holdOf() is the cheap question every erasure, shred and sweep
 * path can ask: an in-memory lookup in the replica, no I/O.
 */
import type { LegalHoldValue, RetentionRuleValue } from './control-kinds.ts';
import type { ControlStore } from './control-store.ts';

export const ruleKey = (tenantId: string, stream: string, deviceGroup: string): string => `${tenantId}/${stream}/${deviceGroup}`;
/** `deviceId` '' is the whole tenant. */
export const holdKey = (tenantId: string, deviceId: string): string => `${tenantId}/${deviceId}`;

export interface ControlRetentionState {
  rules(): readonly RetentionRuleValue[];
  holds(): readonly LegalHoldValue[];
  putRule(rule: RetentionRuleValue, actor: string): Promise<void>;
  putHold(hold: LegalHoldValue, actor: string): Promise<void>;
}

export function controlRetentionState(store: ControlStore): ControlRetentionState {
  return {
    rules: () => [...store.entries('retention-rule').values()],
    holds: () => [...store.entries('legal-hold').values()],
    putRule: async (rule, actor) => { await store.put('retention-rule', ruleKey(rule.tenantId, rule.stream, rule.deviceGroup), rule, actor); },
    putHold: async (hold, actor) => { await store.put('legal-hold', holdKey(hold.tenantId, hold.deviceId), hold, actor); },
  };
}

/**
 * The stored hold decision for a device: true (held, the device's or the
 * tenant's), false (explicitly released), undefined (the store says nothing;
 * the config file's legalHold decides). RetentionPolicy.isHeld() combines
 * both; this is for callers that have only the store.
 */
export function storedHold(store: ControlStore, tenantId: string, deviceId: string): boolean | undefined {
  if (store.get('legal-hold', holdKey(tenantId, ''))?.held === true) return true;
  return store.get('legal-hold', holdKey(tenantId, deviceId))?.held;
}
