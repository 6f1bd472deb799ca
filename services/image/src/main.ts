import 'reflect-metadata';
import { runService } from '@kumo/service-kit';
import { imageService } from './service.js';

await runService(imageService);
