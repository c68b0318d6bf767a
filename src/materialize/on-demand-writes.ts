import type { FeatureView } from '../core/index.js'
import {
  type DeployedOnDemandViews,
  type OnDemandFeatureView,
  onDemandWriteRows,
  transformOf,
} from '../core/index.js'
import { type OnlineWriteRow, type ViewRef, viewRef } from '../online/online-store.js'
import type { ProjectCatalog } from '../registry/index.js'

/** Computes one stored on-demand view's rows from rows of its source view, as they are written. */
export interface OnDemandWriter {
  /** The online table of the view's outputs. */
  readonly ref: ViewRef
  /** The view's output rows for source rows encoded for the source view, keyed and timed as those. */
  rows(written: readonly OnlineWriteRow[]): OnlineWriteRow[]
}

/**
 * Writers for the on-demand views with `writeToOnlineStore` that read `view`: their transformations run
 * over each batch materialized into the view, with the inputs an online read would give them, and
 * their outputs are stored under the source rows' entity keys and timestamps. Throws like online reads
 * do for a Python, undeployed or drifted transformation.
 */
export function onDemandWriters(
  catalog: ProjectCatalog,
  view: FeatureView,
  deployed: DeployedOnDemandViews | undefined,
): OnDemandWriter[] {
  const features = view.features.map((f) => f.name)
  return [...catalog.onDemandFeatureViews.values()]
    .filter((o) => o.writeToOnlineStore && o.sourceProjections[0]!.view.name === view.name)
    .map((odfv: OnDemandFeatureView) => {
      const fn = transformOf(odfv, deployed)
      return {
        ref: viewRef(catalog.project, odfv.storageView!),
        rows: (written) =>
          onDemandWriteRows(odfv, fn, features, written, (r) => `row ${r} materialized into "${view.name}"`),
      }
    })
}
