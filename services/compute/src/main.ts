import 'reflect-metadata';
import { runService } from '@kumo/service-kit';
import { computeService } from './service.js';

await runService(computeService);
