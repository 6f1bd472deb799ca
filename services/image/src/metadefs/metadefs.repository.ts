import { Injectable } from '@nestjs/common';
import { Db, type Sql } from '../db/db.js';

export type ItemKind = 'object' | 'property' | 'tag' | 'rt';

export interface Namespace {
  namespace: string;
  displayName: string | null;
  description: string | null;
  visibility: 'public' | 'private';
  protected: boolean;
  owner: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface Item {
  namespace: string;
  kind: ItemKind;
  name: string;
  body: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

type Row = Record<string, unknown>;

const nsOf = (r: Row): Namespace => ({
  namespace: r.namespace as string,
  displayName: (r.display_name as string | null) ?? null,
  description: (r.description as string | null) ?? null,
  visibility: r.visibility as Namespace['visibility'],
  protected: r.protected as boolean,
  owner: (r.owner as string | null) ?? null,
  createdAt: r.created_at as Date,
  updatedAt: r.updated_at as Date,
});

const itemOf = (r: Row): Item => ({
  namespace: r.namespace as string,
  kind: r.kind as ItemKind,
  name: r.name as string,
  body: r.body as Record<string, unknown>,
  createdAt: r.created_at as Date,
  updatedAt: r.updated_at as Date,
});

/** Metadata definitions (Glance "metadefs"): namespaces and their objects, properties, tags and resource type associations. */
@Injectable()
export class MetadefsRepository {
  constructor(private readonly db: Db) {}

  private get ns() {
    return this.db.t('metadef_namespace');
  }
  private get items() {
    return this.db.t('metadef_item');
  }

  get sql(): Sql {
    return this.db;
  }

  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async namespaces(viewerProject: string | null, isAdmin: boolean): Promise<Namespace[]> {
    const rows = isAdmin
      ? await this.db.rows(`SELECT * FROM ${this.ns} ORDER BY created_at, namespace`)
      : await this.db.rows(`SELECT * FROM ${this.ns} WHERE visibility = 'public' OR owner = $1 ORDER BY created_at, namespace`, [viewerProject]);
    return rows.map(nsOf);
  }

  async namespace(name: string, sql: Sql = this.db): Promise<Namespace | null> {
    const rows = await sql.rows(`SELECT * FROM ${this.ns} WHERE namespace = $1`, [name]);
    return rows[0] ? nsOf(rows[0]) : null;
  }

  /** Inserts; null if the name is taken. */
  async insertNamespace(tx: Sql, n: Omit<Namespace, 'createdAt' | 'updatedAt'>): Promise<Namespace | null> {
    const rows = await tx.rows(
      `INSERT INTO ${this.ns} (namespace, display_name, description, visibility, protected, owner) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING *`,
      [n.namespace, n.displayName, n.description, n.visibility, n.protected, n.owner],
    );
    return rows[0] ? nsOf(rows[0]) : null;
  }

  async updateNamespace(tx: Sql, name: string, n: Omit<Namespace, 'createdAt' | 'updatedAt' | 'owner'>): Promise<Namespace | null> {
    const rows = await tx.rows(
      `UPDATE ${this.ns} SET namespace = $2, display_name = $3, description = $4, visibility = $5, protected = $6, updated_at = now() WHERE namespace = $1 RETURNING *`,
      [name, n.namespace, n.displayName, n.description, n.visibility, n.protected],
    );
    return rows[0] ? nsOf(rows[0]) : null;
  }

  async deleteNamespace(name: string): Promise<boolean> {
    return (await this.db.exec(`DELETE FROM ${this.ns} WHERE namespace = $1`, [name])) > 0;
  }

  async itemsOf(namespace: string, kind: ItemKind): Promise<Item[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.items} WHERE namespace = $1 AND kind = $2 ORDER BY created_at, name`, [namespace, kind]);
    return rows.map(itemOf);
  }

  async item(namespace: string, kind: ItemKind, name: string): Promise<Item | null> {
    const rows = await this.db.rows(`SELECT * FROM ${this.items} WHERE namespace = $1 AND kind = $2 AND name = $3`, [namespace, kind, name]);
    return rows[0] ? itemOf(rows[0]) : null;
  }

  /** Inserts; null if (namespace, kind, name) exists. */
  async insertItem(sql: Sql, namespace: string, kind: ItemKind, name: string, body: Record<string, unknown>): Promise<Item | null> {
    const rows = await sql.rows(`INSERT INTO ${this.items} (namespace, kind, name, body) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING *`, [namespace, kind, name, JSON.stringify(body)]);
    return rows[0] ? itemOf(rows[0]) : null;
  }

  /** Replaces an item (renaming it to `newName`); null if it does not exist. Throws on a name clash (unique violation). */
  async replaceItem(namespace: string, kind: ItemKind, name: string, newName: string, body: Record<string, unknown>): Promise<Item | null> {
    const rows = await this.db.rows(`UPDATE ${this.items} SET name = $4, body = $5, updated_at = now() WHERE namespace = $1 AND kind = $2 AND name = $3 RETURNING *`, [
      namespace,
      kind,
      name,
      newName,
      JSON.stringify(body),
    ]);
    return rows[0] ? itemOf(rows[0]) : null;
  }

  async deleteItem(namespace: string, kind: ItemKind, name: string): Promise<boolean> {
    return (await this.db.exec(`DELETE FROM ${this.items} WHERE namespace = $1 AND kind = $2 AND name = $3`, [namespace, kind, name])) > 0;
  }

  async deleteItems(sql: Sql, namespace: string, kind: ItemKind): Promise<void> {
    await sql.exec(`DELETE FROM ${this.items} WHERE namespace = $1 AND kind = $2`, [namespace, kind]);
  }

  async resourceTypes(): Promise<{ name: string; createdAt: Date; updatedAt: Date }[]> {
    const rows = await this.db.rows(`SELECT * FROM ${this.db.t('metadef_resource_type')} ORDER BY name`);
    return rows.map((r) => ({ name: r.name as string, createdAt: r.created_at as Date, updatedAt: r.updated_at as Date }));
  }

  async ensureResourceType(sql: Sql, name: string): Promise<void> {
    await sql.exec(`INSERT INTO ${this.db.t('metadef_resource_type')} (name, protected) VALUES ($1, false) ON CONFLICT DO NOTHING`, [name]);
  }
}
