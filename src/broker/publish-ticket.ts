/**
 * One admitted PUBLISH, from admission to its authorizePublish callback: its
 * place in the client's PUBACK order, its slot in the pending-publish gate
 * and its pipeline result, in one object instead of a closure per step (the
 * publish hook's hot path, publish-hook.ts).
 */
import type { Client, PublishPacket } from 'aedes';
import { TiqError, toTiqError } from '../errors.ts';
import type { MessageTrace } from '../observability/tracing.ts';
import { DUPLICATE, type IngestMessage, type StageResult } from '../records/message.ts';
import { closeExpiredSession, isExpired } from './cert-expiry.ts';
import type { ClientState } from './client-state.ts';
import type { HookDeps } from './hook-deps.ts';
import type { Completion } from './ordered-acks.ts';
import type { GatedWork } from './publish-gate.ts';
import type { TenantEntry } from './tenant-directory.ts';
import type { classifyPublish } from './topics.ts';

export type Callback = (e?: Error | null) => void;
export type Target = ReturnType<typeof classifyPublish>;

/**
 * What a ticket does when its turn in PUBACK order comes: Refused goes
 * through refusePublish (logged, counted, may disconnect), Failed reaches
 * aedes as is; Dropped is acknowledged and not forwarded (restriction,
 * private-mode command), PolicyDropped too and counted as the policy's drop.
 */
export const Outcome = { Pending: 0, Refused: 1, Failed: 2, Dropped: 3, PolicyDropped: 4, Duplicate: 5, Stored: 6 } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * One admitted PUBLISH, from admission to its callback: its place in the
 * client's PUBACK order (Completion), its slot in the pending-publish gate
 * (GatedWork) and its pipeline result, in one object instead of a closure per
 * step.
 */
export class PublishTicket implements Completion, GatedWork {
  settled = false;
  gated = false;
  outcome: Outcome = Outcome.Pending;
  refusal: TiqError | undefined = undefined;
  msg: IngestMessage | undefined = undefined;
  startedAt = 0;
  traced: MessageTrace | undefined = undefined;

  constructor(
    readonly hook: PublishHookCore, readonly client: Client, readonly state: ClientState, readonly packet: PublishPacket,
    readonly tenant: TenantEntry, readonly target: Target, readonly aedesCallback: Callback,
  ) {}

  /** The gate's turn: the pipeline runs. */
  run(): void {
    this.gated = true;
    this.hook.processAdmitted(this);
  }

  /** The outcome is known; it takes effect in PUBACK order. */
  settle(outcome: Outcome, refusal?: TiqError): void {
    this.outcome = outcome;
    this.refusal = refusal;
    this.state.order.settle(this);
  }

  /** Pipeline result (a promise's settlement or a synchronous return). */
  finished(err: unknown, result: StageResult | undefined): void {
    if (err) {
      const refusal = toTiqError(err);
      this.traced?.end({ code: refusal.code });
      return this.settle(Outcome.Refused, refusal);
    }
    this.traced?.end({ dropped: result?.kind === 'drop' });
    this.hook.stats.pipelineDone(this.msg!.stream, (performance.now() - this.startedAt) / 1000);
    if (result === DUPLICATE) return this.settle(Outcome.Duplicate);
    this.settle(result?.kind === 'drop' ? Outcome.PolicyDropped : Outcome.Stored);
  }

  /** True when a success was withheld because the connection is closing (see respondClosingAware). */
  respond(e: Error | null): boolean {
    return respondClosingAware(this.hook.deps, this.client, this.state, this.aedesCallback, e);
  }

  fire(): void {
    if (this.gated) this.state.gate.leave();
    this.hook.fire(this);
  }
}

/**
 * Once a refusal or the certificate's expiry closes the connection, nothing
 * after it in PUBACK order is acknowledged. Returns true when that turned a
 * success into an error: aedes then neither acknowledges nor forwards it.
 */
export function respondClosingAware(deps: HookDeps, client: Client, state: ClientState, aedesCallback: Callback, e: Error | null | undefined): boolean {
  if (!e && !state.disconnecting && isExpired(state.peer, deps.pipeline.now())) closeExpiredSession(client, state, deps);
  const withheld = !e && state.disconnecting;
  aedesCallback(withheld ? new TiqError(state.withdrawn ?? 'TIQ_ERR_SHUTTING_DOWN', 'connection is closing') : e);
  return withheld;
}

export interface PublishHookCore {
  readonly deps: HookDeps;
  readonly stats: HookDeps['stats'];
  processAdmitted(t: PublishTicket): void;
  fire(t: PublishTicket): void;
}

