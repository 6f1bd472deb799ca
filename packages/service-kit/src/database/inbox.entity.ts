import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

/**
 * One row per AMQP message a service has fully handled (the "inbox" pattern). Written in the same
 * transaction as the handler's own changes, so a redelivered message is recognised and skipped:
 * its effects happen exactly once even though the broker delivers at least once.
 */
@Entity({ name: 'inbox_message' })
export class InboxMessage {
  @PrimaryColumn({ type: 'text' })
  id!: string;

  @Column({ type: 'text' })
  pattern!: string;

  /** The handler's result, returned again to a duplicate RPC. */
  @Column({ type: 'jsonb', nullable: true })
  result!: unknown;

  @CreateDateColumn({ type: 'timestamptz', name: 'handled_at' })
  handledAt!: Date;
}
