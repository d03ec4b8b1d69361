import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Database } from '../db/database';

/** Prometheus metrics for one app instance (its own registry, so several apps can share a process). */
export class Metrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;
  private readonly operations: Counter<'operation' | 'type' | 'outcome'>;

  constructor(db: Database) {
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request latency by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
    this.operations = new Counter({
      name: 'graphql_operations_total',
      help: 'GraphQL operations by root field, type and outcome',
      labelNames: ['operation', 'type', 'outcome'],
      registers: [this.registry],
    });
    const pool = db.poolState.bind(db);
    new Gauge({
      name: 'db_pool_connections',
      help: "Database connections by state: PostgreSQL, the request path's own pool (TypeORM's separate pool is not counted); SQLite, TypeORM's one connection (waiting = queued units of work)",
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const state = pool();
        this.set({ state: 'total' }, state.total);
        this.set({ state: 'idle' }, state.idle);
        this.set({ state: 'waiting' }, state.waiting);
      },
    });
  }

  /** Counts and times one answered request under its route template ("/graphql", "/v1/users/:user_id"). */
  recordRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.requests.inc(labels);
    this.latency.observe(labels, seconds);
  }

  recordOperation(rootField: string, type: string, ok: boolean): void {
    this.operations.inc({ operation: rootField, type, outcome: ok ? 'ok' : 'error' });
  }
}
