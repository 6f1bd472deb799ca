import { Body, Controller, Delete, Get, HttpCode, Param, Post, Put } from '@nestjs/common';
import { Auth, type AuthContext } from '@kumo/service-kit';
import { renderMember } from '../images/image.view.js';
import { MembersService } from './members.service.js';

@Controller('v2/images/:id/members')
export class MembersController {
  constructor(private readonly members: MembersService) {}

  @Get()
  async list(@Auth() auth: AuthContext, @Param('id') id: string) {
    return { members: (await this.members.list(auth, id)).map(renderMember), schema: '/v2/schemas/members' };
  }

  /** Glance answers 200 (not 201) here. */
  @Post()
  @HttpCode(200)
  async add(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: unknown) {
    return renderMember(await this.members.add(auth, id, body));
  }

  @Get(':member')
  async show(@Auth() auth: AuthContext, @Param('id') id: string, @Param('member') member: string) {
    return renderMember(await this.members.show(auth, id, member));
  }

  @Put(':member')
  async update(@Auth() auth: AuthContext, @Param('id') id: string, @Param('member') member: string, @Body() body: unknown) {
    return renderMember(await this.members.setStatus(auth, id, member, body));
  }

  @Delete(':member')
  @HttpCode(204)
  async remove(@Auth() auth: AuthContext, @Param('id') id: string, @Param('member') member: string) {
    await this.members.remove(auth, id, member);
  }
}
