import type { PaperId } from '../../src/core/paper.js';
import type { DeliveryPlan, PlanColumns, WirePlan } from '../../src/core/subscription.js';
import { unpackPlan } from '../../src/pipeline/plan.js';

/** `values` each once, in the order they first come, and each one's index. */
function table<T>(values: Iterable<T>): { list: T[]; index: Map<T, number> } {
  const index = new Map<T, number>();
  const list: T[] = [];
  for (const v of values)
    if (!index.has(v)) {
      index.set(v, list.length);
      list.push(v);
    }
  return { list, index };
}

/**
 * `plan`'s groups packed as the search thread sends a plan (`planWire`): papers and
 * subscriptions by their index in lists of their own, the plan's words each once. Any plan, not
 * only one the planner could make (odd ids, scores, extra rows), so writers of the columns can
 * be checked against writers of the groups.
 */
export function columnsOf(plan: DeliveryPlan): PlanColumns {
  const { groups } = plan;
  const papers = table<PaperId>(groups.flatMap((g) => g.paperIds));
  const subs = table(groups.flatMap((g) => g.subs));
  const words = table(groups.flatMap((g) => g.words));
  const starts = (sizes: number[]) => {
    const out = new Int32Array(sizes.length + 1);
    sizes.forEach((n, g) => {
      out[g + 1] = (out[g] as number) + n;
    });
    return out;
  };
  const wire: WirePlan = {
    createdAt: plan.createdAt,
    count: plan.count,
    targets: groups.map((g) => g.target),
    rowStart: starts(groups.map((g) => g.paperIds.length)),
    rowPaper: Int32Array.from(groups.flatMap((g) => g.paperIds.map((id) => papers.index.get(id) as number))),
    rowScore: Float64Array.from(groups.flatMap((g) => g.scores)),
    subStart: starts(groups.map((g) => g.subs.length)),
    subs: Int32Array.from(groups.flatMap((g) => g.subs.map((s) => subs.index.get(s) as number))),
    wordStart: starts(groups.map((g) => g.words.length)),
    words: Int32Array.from(groups.flatMap((g) => g.words.map((w) => words.index.get(w) as number))),
    wordList: words.list,
    refStart: starts(groups.map((g) => g.refs.length)),
    refs: Int32Array.from(groups.flatMap((g) => g.refs)),
    extra: groups.flatMap((g, i) => g.extra.map((x) => [i, ...x] as WirePlan['extra'][number])),
  };
  return { wire, paperIds: papers.list, subIds: subs.list };
}

/** `plan` as a plan unpacked from its columns: writers that read them do. */
export function withColumns(plan: DeliveryPlan): DeliveryPlan {
  const { wire, paperIds, subIds } = columnsOf(plan);
  return unpackPlan(wire, paperIds, subIds);
}
