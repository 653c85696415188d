/**
 * A job's cost budget, kept in workflow state. Each call reserves its estimate before it runs and
 * settles its real cost after; a reservation is keyed by call, so a retried activity (one result in
 * history) or a replayed workflow settles exactly once and never double-counts.
 */
export interface BudgetSnapshot {
  limitUsd: number;
  spentUsd: number;
  reservedUsd: number;
}

export class JobBudget {
  private readonly reservations = new Map<string, number>();
  private spent = 0;

  constructor(private limit: number) {}

  get limitUsd(): number {
    return this.limit;
  }

  get spentUsd(): number {
    return this.spent;
  }

  get reservedUsd(): number {
    let total = 0;
    for (const amount of this.reservations.values()) total += amount;
    return total;
  }

  /** What is left once settled costs and open reservations are taken off. */
  get remainingUsd(): number {
    return Math.max(0, this.limit - this.spent - this.reservedUsd);
  }

  reserve(callKey: string, estimateUsd: number): void {
    if (this.reservations.has(callKey)) return;
    this.reservations.set(callKey, estimateUsd);
  }

  /** Replaces the reservation by the real cost; settling an unknown or settled call does nothing. */
  settle(callKey: string, actualUsd: number): void {
    if (!this.reservations.has(callKey)) return;
    this.reservations.delete(callKey);
    this.spent += actualUsd;
  }

  /** Drops a reservation whose call produced no billable result. */
  release(callKey: string): void {
    this.reservations.delete(callKey);
  }

  raise(newLimitUsd: number): void {
    this.limit = Math.max(this.limit, newLimitUsd);
  }

  snapshot(): BudgetSnapshot {
    return { limitUsd: this.limit, spentUsd: this.spent, reservedUsd: this.reservedUsd };
  }
}
