// On-demand views over the test repos' driver_stats, in both modes: a repo's features.ts re-exports this.
import {
  FeatureService,
  Field,
  Float64,
  Int64,
  OnDemandFeatureView,
  RequestSource,
  String as Str,
} from '../../core/index.js'
import { driverStats } from '../../materialize/__fixtures__/driver-features.js'

export * from '../../materialize/__fixtures__/driver-features.js'

export const inputRequest = new RequestSource({
  name: 'vals_to_add',
  schema: [
    new Field({ name: 'val_to_add', dtype: Int64 }),
    new Field({ name: 'val_to_add_2', dtype: Int64 }),
  ],
})

const outputs = [
  new Field({ name: 'conv_rate_plus_val1', dtype: Float64 }),
  new Field({ name: 'conv_rate_plus_val2', dtype: Float64 }),
]

/** Feast's quickstart view, one record at a time; a missing conv_rate gives null outputs. */
export const transformedConvRate = new OnDemandFeatureView({
  name: 'transformed_conv_rate',
  sources: [driverStats.select(['conv_rate']), inputRequest],
  schema: outputs,
  transform: (r) => ({
    conv_rate_plus_val1: r.conv_rate === null ? null : (r.conv_rate as number) + (r.val_to_add as number),
    conv_rate_plus_val2: r.conv_rate === null ? null : (r.conv_rate as number) + (r.val_to_add_2 as number),
  }),
})

/** The same outputs over columns. */
export const transformedConvRateBatch = new OnDemandFeatureView({
  name: 'transformed_conv_rate_batch',
  mode: 'batch',
  sources: [driverStats.select(['conv_rate']), inputRequest],
  schema: outputs,
  transform: (c) => ({
    conv_rate_plus_val1: c.conv_rate!.map((v, i) =>
      v === null ? null : (v as number) + (c.val_to_add![i] as number),
    ),
    conv_rate_plus_val2: c.conv_rate!.map((v, i) =>
      v === null ? null : (v as number) + (c.val_to_add_2![i] as number),
    ),
  }),
})

/** Computed when driver_stats rows are written, and read back like a feature view. */
export const tripsLabel = new OnDemandFeatureView({
  name: 'trips_label',
  sources: [driverStats.select(['trips', 'label'])],
  schema: [
    new Field({ name: 'trips_doubled', dtype: Float64 }),
    new Field({ name: 'label_upper', dtype: Str }),
  ],
  writeToOnlineStore: true,
  transform: (r) => ({
    trips_doubled: r.trips === null ? null : Number(r.trips) * 2,
    label_upper: r.label === null ? null : String(r.label).toUpperCase(),
  }),
})

/** Throws for driver 1003's label, to show a failing transformation is an error, not a crash. */
export const fragile = new OnDemandFeatureView({
  name: 'fragile',
  sources: [driverStats.select(['label'])],
  schema: [new Field({ name: 'label_length', dtype: Int64 })],
  transform: (r) => {
    if (r.label === 'late') throw new Error('late labels are not allowed')
    return { label_length: r.label === null ? null : String(r.label).length }
  },
})

export const driverOdfvService = new FeatureService({
  name: 'driver_odfv',
  features: [driverStats.select(['conv_rate']), transformedConvRate],
})

/** Feast's origin/destination example: one view twice, under two aliases, keyed by other columns. */
export const tripService = new FeatureService({
  name: 'trip',
  features: [
    driverStats.select(['conv_rate']).withName('origin').withJoinKeyMap({ driver_id: 'origin_id' }),
    driverStats.select(['conv_rate']).withName('destination').withJoinKeyMap({ driver_id: 'destination_id' }),
    transformedConvRate.select(['conv_rate_plus_val1']),
  ],
})
