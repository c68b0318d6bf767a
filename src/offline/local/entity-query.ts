import type { EntityInput } from '../offline-store.js'

/** Text that opens as a query is one, as Feast reads a string entity_df; anything else is a path. */
export const SQL_TEXT = /^\s*\(*\s*(?:select|with|from|values)\s/i

/**
 * The query text of an entity input that is a query (`{ sql }`, or text opening with `SELECT`, `WITH`,
 * `FROM` or `VALUES`); undefined for rows, an Arrow table or a file path.
 */
export function entityQueryText(input: EntityInput): string | undefined {
  if (typeof input === 'string') return SQL_TEXT.test(input) ? input : undefined
  if (typeof input === 'object' && input !== null && typeof (input as { sql?: unknown }).sql === 'string') {
    return (input as { sql: string }).sql
  }
  return undefined
}
