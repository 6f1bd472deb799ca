import 'reflect-metadata';
import { runService } from '@kumo/service-kit';
import { identityService } from './service.js';

await runService(identityService);
