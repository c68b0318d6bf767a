import { create } from '@bufbuild/protobuf'
import { type Abortable, LarderError, type Micros, nowMicros } from '../core/index.js'
import {
  FeatureViewMetaSchema,
  FeatureViewState,
  MaterializationIntervalSchema,
} from '../gen/feast/core/FeatureView_pb.js'
import { type Registry, timestampFromMicros, updateRegistry } from '../registry/index.js'

/**
 * Records that `[start, end]` of a feature view or stream feature view is in the online store, as
 * Feast's `apply_materialization`: appends a `MaterializationInterval` to the view's meta (the same
 * `FeatureViewMeta` for both kinds), sets its state to AVAILABLE_ONLINE and stamps
 * `last_updated_timestamp` (with `options.now`, default the system clock's now). Commits on a fresh
 * read of the registry and retries when another writer commits first, so concurrent materializations
 * of different views both land. Throws NOT_FOUND when
 * the project has neither kind of view of that name (it was deleted meanwhile).
 */
export async function recordInterval(
  registry: Registry,
  project: string,
  view: string,
  window: { readonly start: Micros; readonly end: Micros },
  options: Abortable & { readonly now?: Micros } = {},
): Promise<void> {
  await updateRegistry(
    registry,
    (draft) => {
      const named = (v: { spec?: { project: string; name: string } }) =>
        v.spec?.project === project && v.spec.name === view
      const proto = draft.featureViews.find(named) ?? draft.streamFeatureViews.find(named)
      if (!proto) {
        throw new LarderError(
          'NOT_FOUND',
          `feature view "${view}" was removed from project "${project}" while it was materialized`,
          { hint: 'its rows are in the online store but no interval was recorded; apply it again and rerun' },
        )
      }
      const meta = proto.meta ?? create(FeatureViewMetaSchema)
      meta.materializationIntervals.push(
        create(MaterializationIntervalSchema, {
          startTime: timestampFromMicros(window.start),
          endTime: timestampFromMicros(window.end),
        }),
      )
      meta.lastUpdatedTimestamp = timestampFromMicros(options.now ?? nowMicros())
      meta.state = FeatureViewState.AVAILABLE_ONLINE
      proto.meta = meta
    },
    options,
  )
}
