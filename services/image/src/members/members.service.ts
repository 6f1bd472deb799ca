import { Injectable } from '@nestjs/common';
import { ApiError, type AuthContext, PolicyService } from '@kumo/service-kit';
import { ImageRepository } from '../db/image.repository.js';
import { type Image, MAX_MEMBERS, MEMBER_STATUSES, type MemberStatus } from '../images/image.model.js';
import { ImagesService, viewerOf } from '../images/images.service.js';
import type { ImageMember } from './member.model.js';

/**
 * Image sharing (Glance's image members). Only `shared` images have members; the owner adds and
 * removes them, each member project accepts or rejects for itself. A member sees the image by
 * id whatever its membership status, and in its default list only once it accepted.
 */
@Injectable()
export class MembersService {
  constructor(
    private readonly images: ImageRepository,
    private readonly imagesService: ImagesService,
    private readonly policy: PolicyService,
  ) {}

  private isOwner(auth: AuthContext, image: Image): boolean {
    return viewerOf(auth).isAdmin || (auth.projectId !== undefined && auth.projectId === image.owner);
  }

  private async sharedImage(auth: AuthContext, id: string): Promise<Image> {
    const image = await this.imagesService.findVisible(auth, id);
    if (image.visibility !== 'shared') throw ApiError.forbidden(`Only shared images have members (image ${image.id} is ${image.visibility}).`);
    return image;
  }

  async list(auth: AuthContext, id: string): Promise<ImageMember[]> {
    const image = await this.sharedImage(auth, id);
    this.policy.enforce('get_members', auth, { project_id: image.owner ?? '' });
    const members = await this.images.members(image.id);
    return this.isOwner(auth, image) ? members : members.filter((m) => m.memberId === auth.projectId);
  }

  async show(auth: AuthContext, id: string, memberId: string): Promise<ImageMember> {
    const image = await this.sharedImage(auth, id);
    this.policy.enforce('get_member', auth, { project_id: image.owner ?? '' });
    const member = await this.images.member(image.id, memberId);
    if (!member || (!this.isOwner(auth, image) && memberId !== auth.projectId)) throw ApiError.notFound(`Project ${memberId} is not a member of image ${image.id}.`);
    return member;
  }

  async add(auth: AuthContext, id: string, body: unknown): Promise<ImageMember> {
    const memberId = (body as { member?: unknown } | undefined)?.member;
    if (!body || typeof body !== 'object' || typeof memberId !== 'string' || memberId.length === 0 || memberId.length > 255) {
      throw ApiError.badRequest('Request body must be {"member": "<project id>"}.');
    }
    const image = await this.sharedImage(auth, id);
    if (!this.isOwner(auth, image)) throw ApiError.forbidden(`Only the owner of image ${image.id} can share it.`);
    this.policy.enforce('add_member', auth, { project_id: image.owner ?? '' });
    return this.images.transaction(async (tx) => {
      await this.images.get(image.id, tx, { forUpdate: true });
      const existing = await this.images.members(image.id, tx);
      if (existing.some((m) => m.memberId === memberId)) throw ApiError.conflict(`Member ${memberId} already associated with image ${image.id}.`);
      if (existing.length >= MAX_MEMBERS) throw ApiError.tooLarge(`Maximum number of members exceeded: image ${image.id} already has ${MAX_MEMBERS}.`);
      const added = await this.images.addMember(tx, image.id, memberId);
      if (!added) throw ApiError.conflict(`Member ${memberId} already associated with image ${image.id}.`);
      return added;
    });
  }

  async setStatus(auth: AuthContext, id: string, memberId: string, body: unknown): Promise<ImageMember> {
    const status = (body as { status?: unknown } | undefined)?.status;
    if (typeof status !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(status)) {
      throw ApiError.badRequest(`Invalid status: ${JSON.stringify(status)}. A membership is ${MEMBER_STATUSES.join(', ')}.`);
    }
    const image = await this.sharedImage(auth, id);
    const member = await this.images.member(image.id, memberId);
    if (!member || (!this.isOwner(auth, image) && memberId !== auth.projectId)) throw ApiError.notFound(`Project ${memberId} is not a member of image ${image.id}.`);
    if (memberId !== auth.projectId && !viewerOf(auth).isAdmin) {
      throw ApiError.forbidden(`Only project ${memberId} itself can accept or reject its membership of image ${image.id}.`);
    }
    this.policy.enforce('modify_member', auth, { project_id: image.owner ?? '', member_id: memberId });
    const updated = await this.images.setMemberStatus(image.id, memberId, status as MemberStatus);
    if (!updated) throw ApiError.notFound(`Project ${memberId} is not a member of image ${image.id}.`);
    return updated;
  }

  async remove(auth: AuthContext, id: string, memberId: string): Promise<void> {
    const image = await this.sharedImage(auth, id);
    const member = await this.images.member(image.id, memberId);
    if (!member || (!this.isOwner(auth, image) && memberId !== auth.projectId)) throw ApiError.notFound(`Project ${memberId} is not a member of image ${image.id}.`);
    if (!this.isOwner(auth, image)) throw ApiError.forbidden(`Only the owner of image ${image.id} can remove its members.`);
    this.policy.enforce('delete_member', auth, { project_id: image.owner ?? '' });
    await this.images.deleteMember(image.id, memberId);
  }
}
