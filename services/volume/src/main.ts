import 'reflect-metadata';
import { runService } from '@kumo/service-kit';
import { volumeService } from './service.js';

await runService(volumeService);
