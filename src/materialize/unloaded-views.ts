import type { RepoConfig } from '../config/index.js'
import { type Abortable, formatMicros, type Micros } from '../core/index.js'
import { type OnlineStore, viewRef } from '../online/online-store.js'
import type { Registry } from '../registry/index.js'
import { loadedView } from './materialize.js'

/** A feature view or stream feature view whose registry records materialized intervals while the online store holds none of its rows. */
export interface UnloadedView {
  readonly view: string
  /** Start of the first recorded interval. */
  readonly start: Micros
  /** End of the last recorded interval. */
  readonly end: Micros
  /** One line saying so, with the command that reloads the recorded range. */
  readonly message: string
}

/** What the probe needs from a feature store; `FeatureStore` is one. */
export interface UnloadedViewsTarget {
  readonly config: RepoConfig
  readonly registry: Registry
  online(options?: Abortable): Promise<OnlineStore>
}

/**
 * The feature views and stream feature views (the named ones, else every one) that the registry says
 * were materialized but whose online storage holds no row, as after switching online stores:
 * incremental materialization would then load only the new tail, and reads would find nothing. Costs
 * one `hasRows` probe per view with recorded intervals (a stream view's probe reads the table of its
 * non-aggregated features); other names are ignored, and a store without `hasRows` reports nothing.
 *
 * @example for (const u of await unloadedViews(store)) console.warn(u.message)
 */
export async function unloadedViews(
  target: UnloadedViewsTarget,
  views?: readonly string[],
  options: Abortable = {},
): Promise<UnloadedView[]> {
  const state = await target.registry.load({ allowCache: false, signal: options.signal })
  const catalog = state.catalog(target.config.project)
  const online = await target.online(options)
  if (!online.hasRows) return []
  const names =
    views && views.length > 0
      ? [...new Set(views)]
      : [...catalog.featureViews.keys(), ...catalog.streamFeatureViews.keys()].sort()
  const out: UnloadedView[] = []
  for (const name of names) {
    const view = loadedView(catalog, name)
    const intervals = view?.online ? catalog.materializationIntervals(name) : []
    if (view === undefined || intervals.length === 0) continue
    if (await online.hasRows(viewRef(target.config.project, view), options)) continue
    const start = Math.min(...intervals.map((i) => i.start))
    const end = Math.max(...intervals.map((i) => i.end))
    const kind = catalog.featureViews.has(name) ? 'feature view' : 'stream feature view'
    out.push({
      view: name,
      start,
      end,
      message:
        `${kind} "${name}" was materialized from ${formatMicros(start)} to ${formatMicros(end)}, ` +
        `but the ${online.type} online store holds none of its rows; load them again with: ` +
        `larder materialize ${formatMicros(start)} ${formatMicros(end)} --views ${name}`,
    })
  }
  return out
}
