import { X509Certificate } from 'node:crypto';
import { Body, Controller, Delete, Get, Param, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { microversionOf } from '../versions/microversion.js';
import { ApiError, Auth, type AuthContext, PolicyService, requestBaseUrl } from '@kumo/service-kit';
import { bodyOf, invalid, isoMicro, nextLink, pageOf, projectOf, stringField } from '../common/nova.js';
import { Db } from '../db/db.js';
import { QuotaService } from '../quotas/quota.service.js';
import { generateRsaKeyPair, parsePublicKey } from './ssh-keys.js';
import { generateX509KeyPair, x509Fingerprint } from './x509.js';

interface KeypairRow {
  user_id: string;
  name: string;
  project_id: string;
  public_key: string;
  fingerprint: string;
  type: string;
  id: string;
  created_at: Date;
}

const NAME = /^[\w\- .@]+$/;

/** Keypairs belong to a user (not a project), as in Nova; admins may act for another user with `?user_id=`. */
@Controller('v2.1/os-keypairs')
export class KeypairsController {
  constructor(
    private readonly db: Db,
    private readonly policy: PolicyService,
    private readonly quotas: QuotaService,
  ) {}

  /**
   * `user_id` in the create body is Nova's 2.10 (refused below). The `?user_id=` query of
   * list/show/delete is honoured for admins at every version (Nova ignores it below 2.10; Kumo
   * has offered it since 2.1, see docs/compute.md).
   */
  private userOf(auth: AuthContext, q: Record<string, unknown>, version = 2010): string {
    if (version < 2010) return auth.userId;
    const other = typeof q.user_id === 'string' && q.user_id ? q.user_id : undefined;
    if (other && other !== auth.userId) {
      this.policy.enforce('keypairs:other_user', auth);
      return other;
    }
    return auth.userId;
  }

  @Get()
  async list(@Auth() auth: AuthContext, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const v = microversionOf(req);
    const userId = this.userOf(auth, q);
    let rows = await this.db.rows<KeypairRow>(`SELECT * FROM ${this.db.t('keypair')} WHERE user_id = $1 ORDER BY name`, [userId]);
    const out: Record<string, unknown> = {};
    // 2.35: limit/marker (a keypair name) and keypairs_links; Nova ignores them below.
    if (v >= 2035) {
      const { limit, marker } = pageOf(q);
      if (marker !== undefined) {
        const at = rows.findIndex((k) => k.name === marker);
        if (at < 0) throw ApiError.badRequest(`Marker ${marker} could not be found.`);
        rows = rows.slice(at + 1);
      }
      rows = rows.slice(0, limit);
      if (q.limit !== undefined && rows.length > 0 && rows.length === limit) out.keypairs_links = nextLink(requestBaseUrl(req), 'os-keypairs', q, rows[rows.length - 1]!.name);
    }
    // 2.2: every keypair says its type.
    return { keypairs: rows.map((k) => ({ keypair: { name: k.name, public_key: k.public_key, fingerprint: k.fingerprint, ...(v >= 2002 ? { type: k.type } : {}) } })), ...out };
  }

  @Get(':name')
  async show(@Auth() auth: AuthContext, @Param('name') name: string, @Query() q: Record<string, unknown>, @Req() req: Request) {
    const v = microversionOf(req);
    const k = await this.get(this.userOf(auth, q), name);
    return {
      keypair: {
        name: k.name,
        public_key: k.public_key,
        fingerprint: k.fingerprint,
        user_id: k.user_id,
        id: Number(k.id),
        created_at: isoMicro(k.created_at),
        deleted: false,
        deleted_at: null,
        updated_at: null,
        ...(v >= 2002 ? { type: k.type } : {}),
      },
    };
  }

  private async get(userId: string, name: string): Promise<KeypairRow> {
    const rows = await this.db.rows<KeypairRow>(`SELECT * FROM ${this.db.t('keypair')} WHERE user_id = $1 AND name = $2`, [userId, name]);
    if (!rows[0]) throw ApiError.notFound(`Keypair ${name} not found for user ${userId}`);
    return rows[0];
  }

  /** 2.1 answers 200, 2.2 201 with `type` (ssh, or x509: a PEM certificate imported, or generated when none is given). */
  @Post()
  async create(@Auth() auth: AuthContext, @Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response) {
    const v = microversionOf(req);
    const project = projectOf(auth);
    const b = bodyOf(body, 'keypair');
    const allowed = ['name', 'public_key', ...(v >= 2002 ? ['type'] : []), ...(v >= 2010 ? ['user_id'] : [])];
    for (const k of Object.keys(b)) if (!allowed.includes(k)) throw invalid('keypair', b, `Additional properties are not allowed ('${k}' was unexpected)`);
    const name = stringField(b, 'name', { required: true, min: 1 })!;
    if (!NAME.test(name) || name.trim() !== name) throw ApiError.badRequest('Keypair data is invalid: Keypair name contains unsafe characters');
    const type = b.type === undefined ? 'ssh' : b.type;
    if (type !== 'ssh' && type !== 'x509') throw invalid('type', type, "is not one of ['ssh', 'x509']");
    const userId = this.userOf(auth, b, v);
    const imported = stringField(b, 'public_key', { max: 65535 });
    let publicKey: string;
    let fingerprint: string;
    let privateKey: string | undefined;
    if (type === 'x509' && imported === undefined) {
      // As Nova: a new RSA key and a self-signed certificate for the user; the certificate is the public key.
      ({ publicKey, fingerprint, privateKey } = await generateX509KeyPair(userId));
    } else if (type === 'x509' && imported !== undefined) {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(imported);
      } catch {
        throw ApiError.badRequest('Keypair data is invalid: failed to generate fingerprint');
      }
      publicKey = imported.trim();
      fingerprint = x509Fingerprint(cert);
    } else if (imported !== undefined) {
      const parsed = parsePublicKey(imported);
      if (!parsed) throw ApiError.badRequest('Keypair data is invalid: failed to generate fingerprint');
      publicKey = imported.trim();
      fingerprint = parsed.fingerprint;
    } else {
      const gen = await generateRsaKeyPair(`Generated-by-Kumo`);
      publicKey = gen.publicKey;
      fingerprint = gen.fingerprint;
      privateKey = gen.privateKey;
    }
    await this.db.transaction(async (tx) => {
      const [used] = await tx.rows<{ n: string }>(`SELECT count(*) AS n FROM ${this.db.t('keypair')} WHERE user_id = $1`, [userId]);
      const limit = await this.quotas.limitOf(project, 'key_pairs');
      if (limit >= 0 && Number(used!.n) >= limit) throw new ApiError(403, 'Quota exceeded, too many key pairs.', { type: 'forbidden' });
      const n = await tx.exec(
        `INSERT INTO ${this.db.t('keypair')} (user_id, name, project_id, public_key, fingerprint, type) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
        [userId, name, project, publicKey, fingerprint, type],
      );
      if (!n) throw ApiError.conflict(`Key pair '${name}' already exists.`);
    });
    res.status(v >= 2002 ? 201 : 200);
    return { keypair: { name, public_key: publicKey, fingerprint, user_id: userId, ...(privateKey ? { private_key: privateKey } : {}), ...(v >= 2002 ? { type } : {}) } };
  }

  /** 2.1 answers 202, 2.2 204. */
  @Delete(':name')
  async remove(@Auth() auth: AuthContext, @Param('name') name: string, @Query() q: Record<string, unknown>, @Req() req: Request, @Res() res: Response) {
    const v = microversionOf(req);
    const userId = this.userOf(auth, q);
    const n = await this.db.exec(`DELETE FROM ${this.db.t('keypair')} WHERE user_id = $1 AND name = $2`, [userId, name]);
    if (!n) throw ApiError.notFound(`Keypair ${name} not found for user ${userId}`);
    res.status(v >= 2002 ? 204 : 202).end();
  }
}
