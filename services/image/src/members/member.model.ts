import type { MemberStatus } from '../images/image.model.js';

export interface ImageMember {
  imageId: string;
  /** Project id the image is shared with. */
  memberId: string;
  status: MemberStatus;
  createdAt: Date;
  updatedAt: Date;
}
