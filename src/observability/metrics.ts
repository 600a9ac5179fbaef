/** Prometheus metrics on paperboy's own registry (prom-client). */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface CycleMetrics {
  papersNew: number;
  papersUpdated: number;
  matches: number;
  durationSeconds: number;
  sourcesFailing: number;
  sourcesStale?: number;
  finishedAt: Date;
}

export interface Metrics {
  recordCycle(r: CycleMetrics): void;
  posts(n: number): void;
  deliveryFailure(reason: string): void;
  invalidRequest(status: number): void;
  cycleSkipped(reason: 'overlap' | 'not-elected'): void;
  subscriptions(n: number): void;
  outboxPending(n: number): void;
  /** Papers in the search index (what its memory grows with; `search.windowDays` bounds it). */
  searchIndexPapers(n: number): void;
  render(): Promise<string>;
  readonly contentType: string;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  // The process's own: resident memory, heap, event-loop delay, GC (read at each scrape).
  collectDefaultMetrics({ register: registry });
  const indexed = new Gauge({
    name: 'paperboy_search_index_papers',
    help: 'Papers in the search index',
    registers,
  });
  const papers = new Counter({
    name: 'paperboy_papers_total',
    help: 'Papers stored, by kind',
    labelNames: ['kind'],
    registers,
  });
  const matches = new Counter({
    name: 'paperboy_matches_total',
    help: '(paper, target) matches planned',
    registers,
  });
  const posts = new Counter({ name: 'paperboy_posts_total', help: 'Papers posted to Discord', registers });
  const failures = new Counter({
    name: 'paperboy_delivery_failures_total',
    help: 'Delivery failures, by reason',
    labelNames: ['reason'],
    registers,
  });
  const invalid = new Counter({
    name: 'paperboy_discord_invalid_requests_total',
    help: 'Discord 401/403/429 responses (ban threshold: 10,000 per 10 minutes)',
    labelNames: ['status'],
    registers,
  });
  const skipped = new Counter({
    name: 'paperboy_cycles_skipped_total',
    help: 'Scheduled cycles not run, by reason',
    labelNames: ['reason'],
    registers,
  });
  const subs = new Gauge({ name: 'paperboy_subscriptions', help: 'Subscriptions', registers });
  const failing = new Gauge({ name: 'paperboy_sources_failing', help: 'Sources marked failing', registers });
  const stale = new Gauge({
    name: 'paperboy_sources_stale',
    help: 'Feeds with nothing new for longer than staleAfterHours',
    registers,
  });
  const pending = new Gauge({
    name: 'paperboy_outbox_pending',
    help: 'Deliveries planned in the outbox queue records not yet pruned (settled ones count until their whole record is)',
    registers,
  });
  const last = new Gauge({
    name: 'paperboy_last_cycle_timestamp_seconds',
    help: 'When the last cycle finished',
    registers,
  });
  const duration = new Histogram({
    name: 'paperboy_cycle_duration_seconds',
    help: 'Cycle duration',
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600],
    registers,
  });
  for (const k of ['new', 'updated']) papers.inc({ kind: k }, 0);
  return {
    recordCycle(r) {
      papers.inc({ kind: 'new' }, r.papersNew);
      papers.inc({ kind: 'updated' }, r.papersUpdated);
      matches.inc(r.matches);
      duration.observe(r.durationSeconds);
      failing.set(r.sourcesFailing);
      stale.set(r.sourcesStale ?? 0);
      last.set(r.finishedAt.getTime() / 1000);
    },
    posts: (n) => posts.inc(n),
    deliveryFailure: (reason) => failures.inc({ reason }),
    invalidRequest: (status) => invalid.inc({ status: String(status) }),
    cycleSkipped: (reason) => skipped.inc({ reason }),
    subscriptions: (n) => subs.set(n),
    outboxPending: (n) => pending.set(n),
    searchIndexPapers: (n) => indexed.set(n),
    render: () => registry.metrics(),
    contentType: registry.contentType,
  };
}
