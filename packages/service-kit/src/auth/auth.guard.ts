import { type CanActivate, createParamDecorator, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ApiError } from '../errors/api-error.js';
import type { AuthContext } from './claims.js';
import { TokenVerifier } from './token-verifier.js';

const IS_PUBLIC = 'kumo:public';

/** Marks a route (or controller) as served without a token: discovery, health, metrics, login. */
export const Public = () => SetMetadata(IS_PUBLIC, true);

export type AuthenticatedRequest = Request & { auth: AuthContext };

/** The verified caller of the current request (see AuthGuard). */
export const Auth = createParamDecorator((_: unknown, ctx: ExecutionContext): AuthContext => {
  const auth = ctx.switchToHttp().getRequest<Partial<AuthenticatedRequest>>().auth;
  if (!auth) throw new Error('@Auth() used on a @Public() route');
  return auth;
});

/**
 * Default deny: every HTTP route needs a valid `X-Auth-Token` unless marked @Public(). Like
 * keystonemiddleware, a refusal is 401 with Keystone's error body and a `WWW-Authenticate`
 * header naming where to get a token.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly verifier: TokenVerifier,
    @Inject('KUMO_IDENTITY_PUBLIC_URL') private readonly identityUrl: string,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    if (ctx.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [ctx.getHandler(), ctx.getClass()])) return true;
    const req = ctx.switchToHttp().getRequest<AuthenticatedRequest>();
    const res = ctx.switchToHttp().getResponse<Response>();
    const token = req.get('x-auth-token');
    const challenge = { 'WWW-Authenticate': `Keystone uri="${this.identityUrl}"` };
    if (!token) {
      res.setHeader('WWW-Authenticate', challenge['WWW-Authenticate']);
      throw ApiError.unauthorized(undefined, { family: 'keystone', headers: challenge });
    }
    try {
      req.auth = await this.verifier.verify(token);
    } catch (err) {
      if (err instanceof ApiError) throw new ApiError(err.status, err.message, { family: 'keystone', headers: challenge });
      throw err;
    }
    return true;
  }
}
