// A plain view over a generated Parquet file, for tests that need many rows.
import { Entity, FeatureView, Field, FileSource, Float64, Int64, String as Str } from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const bulkStats = new FeatureView({
  name: 'bulk_stats',
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'f0', dtype: Float64 }),
    new Field({ name: 'f1', dtype: Int64 }),
    new Field({ name: 'f2', dtype: Str }),
  ],
  source: new FileSource({
    name: 'bulk_source',
    path: 'data/bulk.parquet',
    timestampField: 'event_timestamp',
    createdTimestampColumn: 'created',
  }),
})
