import { Controller, Get, Header } from '@nestjs/common';
import { Public } from '@kumo/service-kit';
import { KeyStore } from './key-store.js';

/** The public halves of the signing keys (primary + previous), for every service's TokenVerifier. */
@Public()
@Controller('.well-known')
export class JwksController {
  constructor(private readonly keys: KeyStore) {}

  @Get('jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  jwks() {
    return this.keys.jwks();
  }
}
