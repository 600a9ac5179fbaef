import { type Subscription, subscriptionId, type Target } from '../../src/core/subscription.js';

/** An immediate subscription of `target` to `query`, as the tests make them. */
export function sub(target: Target, query: string, notifyUpdates = false): Subscription {
  return {
    id: subscriptionId(target, query),
    target,
    query,
    createdBy: 'test',
    createdAt: '2026-11-22T00:00:00.000Z',
    mode: 'immediate',
    notifyUpdates,
    backfillHours: 0,
  };
}
