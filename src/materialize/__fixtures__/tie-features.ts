// A view without a created column over a directory of Parquet files, for the tie parity test.
import { Entity, FeatureView, Field, FileSource, Int64 } from '../../core/index.js'

export const driver = new Entity({ name: 'driver', joinKeys: ['driver_id'], valueType: Int64 })

export const tiedStats = new FeatureView({
  name: 'tied_stats',
  entities: [driver],
  schema: [new Field({ name: 'driver_id', dtype: Int64 }), new Field({ name: 'f', dtype: Int64 })],
  source: new FileSource({ name: 'tied_source', path: 'data/tied', timestampField: 'event_timestamp' }),
})
