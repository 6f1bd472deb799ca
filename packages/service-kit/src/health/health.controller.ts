import { Controller, Get, Injectable, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import type { Response } from 'express';
import { Public } from '../auth/auth.guard.js';
import { AmqpConnection } from '../amqp/connection.js';

@Injectable()
export class BrokerHealthIndicator {
  constructor(
    private readonly connection: AmqpConnection,
    private readonly indicators: HealthIndicatorService,
  ) {}

  check(key: string) {
    const indicator = this.indicators.check(key);
    return this.connection.isConnected()
      ? indicator.up({ reconnects: this.connection.reconnects })
      : indicator.down({ message: `not connected to ${this.connection.displayUrl}; check 'rabbitmqctl status'` });
  }
}

/**
 * `GET /healthz`: 200 when the database answers and the broker connection is up, 503 otherwise,
 * with terminus' body ({status, info, error, details}) either way.
 */
@Public()
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly broker: BrokerHealthIndicator,
  ) {}

  @Get('healthz')
  async check(@Res() res: Response): Promise<void> {
    try {
      const result = await this.health.check([() => this.db.pingCheck('database', { timeout: 2000 }), () => this.broker.check('broker')]);
      res.status(200).json(result);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) {
        res.status(503).json(err.getResponse());
        return;
      }
      throw err;
    }
  }
}
