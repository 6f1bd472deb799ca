import 'reflect-metadata';
import { runService } from '@kumo/service-kit';
import { networkService } from './service.js';

await runService(networkService);
