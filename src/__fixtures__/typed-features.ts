// Definitions for the typed-store tests: the serving fixtures (every common type, aliases, join-key
// maps, on-demand views, services) and one push-fed view of the less common types.
import {
  Array as ArrayOf,
  Bytes,
  FeatureService,
  FeatureView,
  Field,
  FileSource,
  Int32,
  Int64,
  Json,
  Set as SetOf,
  String as Str,
  Struct,
  UnixTimestamp,
} from '../core/index.js'
import { driver, driverStats } from '../materialize/__fixtures__/driver-features.js'
import { transformedConvRate } from '../serving/__fixtures__/odfv-features.js'

export * from '../serving/__fixtures__/odfv-features.js'

/** The less common types, in a Parquet file the tests write with DuckDB. */
export const driverExtras = new FeatureView({
  name: 'driver_extras',
  entities: [driver],
  schema: [
    new Field({ name: 'driver_id', dtype: Int64 }),
    new Field({ name: 'avatar', dtype: Bytes }),
    new Field({ name: 'visits', dtype: ArrayOf(Int64) }),
    new Field({ name: 'badges', dtype: SetOf(Str) }),
    new Field({ name: 'logins', dtype: ArrayOf(UnixTimestamp) }),
    new Field({ name: 'address', dtype: Struct({ city: Str, zip: Int32 }) }),
    new Field({ name: 'routes', dtype: ArrayOf(ArrayOf(Int64)) }),
    new Field({ name: 'profile', dtype: Json }),
  ],
  source: new FileSource({
    name: 'driver_extras_source',
    path: 'data/driver_extras.parquet',
    timestampField: 'event_timestamp',
  }),
})

/** A view, an alias of a selection, and an on-demand selection. */
export const typedService = new FeatureService({
  name: 'typed_service',
  features: [
    driverStats.select(['conv_rate', 'trips']),
    driverExtras.select(['visits']).withName('extras'),
    transformedConvRate.select(['conv_rate_plus_val1']),
  ],
})
