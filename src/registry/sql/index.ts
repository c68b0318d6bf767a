export type { SqlConnection, SqlDialect, SqlDialectModule, SqlExecutor, SqlResult } from './sql-dialect.js'
export { SqlJobStore } from './sql-jobs.js'
export { SqlRegistry, type SqlRegistryOptions } from './sql-registry.js'
export { LARDER_TABLES, schemaStatements } from './sql-schema.js'
