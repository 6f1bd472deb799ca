import { Controller, Get, Header, Injectable } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Public } from '../auth/auth.guard.js';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** One Prometheus registry per service process, labelled with the service name. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'method' | 'route'>;

  constructor(service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({ name: 'kumo_http_requests_total', help: 'HTTP requests served, by method, route and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
    this.duration = new Histogram({ name: 'kumo_http_request_duration_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10], registers: [this.registry] });
  }

  /** Express middleware; the route label is the matched route pattern, never the raw URL (bounded cardinality). */
  middleware() {
    return (req: Request, res: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      res.on('finish', () => {
        const route = (req.route?.path as string | undefined) ?? 'unmatched';
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.requests.inc({ method: req.method, route, status: String(res.statusCode) });
        this.duration.observe({ method: req.method, route }, seconds);
      });
      next();
    };
  }
}

@Public()
@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
