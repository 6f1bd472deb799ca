import { Module } from '@nestjs/common';
import { KUMO_CONFIG, type ServiceDefinition, TOKEN_KEYS } from '@kumo/service-kit';
import { DataSource } from 'typeorm';
import { Audit } from './audit/audit.js';
import { AuthController } from './auth/auth.controller.js';
import { Passwords } from './auth/passwords.js';
import { TokensService } from './auth/tokens.service.js';
import { bootstrapCommand } from './bootstrap/bootstrap.command.js';
import { Directory } from './common/directory.js';
import { type IdentityConfig, identityConfigShape } from './config.js';
import { identityDatabase } from './db/database.js';
import { Db } from './db/db.service.js';
import { FederationController } from './federation/federation.controller.js';
import { Federation } from './federation/federation.service.js';
import { JwksController } from './keys/jwks.controller.js';
import { KeyStore, loadMasterKey } from './keys/key-store.js';
import { rotateKeysCommand } from './keys/rotate.command.js';
import { identityPolicy } from './policy.js';
import { AppCredentialsController } from './resources/app-credentials.controller.js';
import { AssignmentsController } from './resources/assignments.controller.js';
import { CatalogController } from './resources/catalog.controller.js';
import { DocumentsController } from './resources/documents.controller.js';
import { DomainsController } from './resources/domains.controller.js';
import { GroupsController } from './resources/groups.controller.js';
import { ProjectsController } from './resources/projects.controller.js';
import { GrantsController, RolesController } from './resources/roles.controller.js';
import { UsersController } from './resources/users.controller.js';
import { RevocationRpcController, Revocations } from './revocation/revocations.js';
import { VersionsController } from './versions/versions.controller.js';

export const VERSION = '0.1.0';

@Module({
  controllers: [
    VersionsController,
    JwksController,
    AuthController,
    DomainsController,
    ProjectsController,
    UsersController,
    GroupsController,
    RolesController,
    GrantsController,
    AssignmentsController,
    CatalogController,
    DocumentsController,
    AppCredentialsController,
    FederationController,
    RevocationRpcController,
  ],
  providers: [Db, Directory, Passwords, Audit, Revocations, TokensService, Federation, { provide: KeyStore, useFactory: (keys: { store: KeyStore }) => keys.store, inject: [TOKEN_KEYS] }],
})
export class IdentityModule {}

/**
 * Identity verifies its own tokens with the keys in its database (no HTTP call to itself): the
 * resolver handed to service-kit's TokenVerifier carries the KeyStore, which IdentityModule
 * re-exports for signing and the JWKS.
 */
async function localKeys(ds: DataSource, config: IdentityConfig) {
  const store = new KeyStore(new Db(ds), loadMasterKey(config));
  try {
    await store.start();
  } catch (err) {
    // An unmigrated schema: SchemaGuard refuses to start with a message saying what to run.
    if ((err as { code?: string; driverError?: { code?: string } }).driverError?.code !== '42P01') throw err;
  }
  return Object.assign((header: Parameters<KeyStore['resolve']>[0]) => store.resolve(header), { store });
}

export const identityService: ServiceDefinition = {
  name: 'identity',
  family: 'keystone',
  version: VERSION,
  port: { variable: 'KUMO_IDENTITY_PORT', default: 5000 },
  config: identityConfigShape,
  database: identityDatabase,
  modules: () => [IdentityModule],
  policy: identityPolicy,
  tokenKeys: { useFactory: localKeys, inject: [DataSource, KUMO_CONFIG] },
  commands: {
    bootstrap: {
      describe: 'create/update domain Default, admin+demo projects and users, roles, region and the catalog (idempotent; --reset-passwords)',
      run: (config, args) => bootstrapCommand(config as unknown as IdentityConfig, args),
    },
    'rotate-keys': {
      describe: 'new token-signing key; retire keys older than the previous one (--retire-all: retire every old key now)',
      run: (config, args) => rotateKeysCommand(config as unknown as IdentityConfig, args),
    },
  },
};
