import type { RepoConfig } from '../config/index.js'
import {
  type EntityKeySerializationVersion,
  type EntityKeyValue,
  type FeastType,
  type FeatureService,
  type FeatureView,
  knownNames,
  LarderError,
  type OnDemandFeatureView,
  outputColumnName,
  parseFeatureRef,
} from '../core/index.js'
import { type FeatureSelection, resolveFeatureRefs } from '../offline/index.js'
import { entityKeyEncoder, type ViewRef, viewRef } from '../online/online-store.js'
import { type TileViewRef, tileViewRef } from '../online/tile-store.js'
import type { ProjectCatalog, Registry, RegistryState } from '../registry/index.js'
import { isStreamViewRef, streamViewSelections } from './stream-views.js'

/** Which features an online read returns: references or a feature service, and how columns are named. */
export interface FeatureSelectionRequest {
  /** Feature references `"view:feature"`. */
  readonly features?: readonly string[]
  /** A feature service (or its name) whose features to read, instead of `features`. */
  readonly featureService?: string | FeatureService
  /** Name feature columns `<view or alias>__<feature>` instead of `<feature>` (default false). */
  readonly fullFeatureNames?: boolean
}

/** One feature view (or projection of it) to read: its online table, keys and requested features. */
export interface ViewRead {
  /** The name features are reported under: the projection's alias, else the view's name. */
  readonly name: string
  readonly ref: ViewRef
  /** The request column holding each join key of `ref.joinKeys` (after the projection's join-key map). */
  readonly keyColumns: readonly string[]
  /** Index into `OnlinePlan.keyGroups`. */
  readonly keyGroup: number
  readonly features: readonly string[]
  /** Index of each feature's column among the plan's feature columns; -1 for a feature read only as an on-demand input. */
  readonly outputs: readonly number[]
  /** Microseconds after which a value is OUTSIDE_MAX_AGE; 0 disables the check. */
  readonly maxAgeMicros: number
}

/** The windowed aggregations of a stream feature view (or projection of it), combined from its tiles. */
export interface TileRead {
  /** The name features are reported under, as for the view's {@link ViewRead}. */
  readonly name: string
  readonly ref: TileViewRef
  /** Index into `OnlinePlan.keyGroups` (the view's plain read uses the same). */
  readonly keyGroup: number
  /** Indexes into `ref.aggregations` of the aggregations read. */
  readonly wanted: readonly number[]
  /** The feature column of each wanted aggregation. */
  readonly outputs: readonly number[]
  /** Microseconds after which a value (by the newest event in its windows) is OUTSIDE_MAX_AGE; 0 disables. */
  readonly maxAgeMicros: number
}

/** Views whose entity keys are made from the same request columns the same way, so are encoded once. */
export interface KeyGroup {
  readonly columns: readonly string[]
  readonly valueTypes: readonly number[]
  /** The first view needing the group, for messages. */
  readonly view: string
  readonly encode: (values: readonly EntityKeyValue[]) => Uint8Array
}

/** Where one input of a transformation comes from: a feature of a read, or a request field. */
export type OnDemandInputSource =
  | { readonly name: string; readonly read: number; readonly feature: number }
  | { readonly name: string; readonly request: string; readonly dtype: FeastType }

/** An on-demand view computed on read: its inputs, and the output column of each schema field (-1: not requested). */
export interface OnDemandRead {
  /** The registered view (its transformation is bound to the deployed function at read time). */
  readonly view: OnDemandFeatureView
  readonly inputs: readonly OnDemandInputSource[]
  readonly outputs: readonly number[]
}

/** A resolved online request: everything a read needs from the registry, computed once per version. */
export interface OnlinePlan {
  /** Output names of the features, in response order (grouped by view). */
  readonly featureColumns: readonly string[]
  /** The ValueType of each feature column. */
  readonly featureTypes: readonly number[]
  /** Each request column a read needs, with its value type and the first view needing it. */
  readonly joinKeys: ReadonlyMap<string, { readonly valueType: number; readonly view: string }>
  readonly reads: readonly ViewRead[]
  /** Windowed aggregations of stream views, read from tiles. */
  readonly tileReads: readonly TileRead[]
  readonly keyGroups: readonly KeyGroup[]
  /** On-demand views computed after the reads; their columns follow the reads' columns. */
  readonly onDemand: readonly OnDemandRead[]
  /** Request fields the on-demand views need, taken from the request's entity columns. */
  readonly requestFields: ReadonlyMap<string, { readonly dtype: FeastType; readonly view: string }>
}

/** What serving needs from a feature store: its config and registry (`FeatureStore` is one). */
export interface PlanTarget {
  readonly config: RepoConfig
  readonly registry: Registry
}

const MAX_PLANS = 256
const plans = new WeakMap<Registry, { version: string; byRequest: Map<string, OnlinePlan> }>()

/**
 * The plan for a request against a registry read. Requests by reference list or service name are
 * cached per registry and version, so repeated reads do no registry work until the registry changes.
 * Throws NOT_FOUND for an unknown view, feature or service, INVALID_ARGUMENT for a view that is not
 * served online or for two features that would share an output name.
 */
export function onlinePlan(
  target: PlanTarget,
  state: RegistryState,
  request: FeatureSelectionRequest,
): OnlinePlan {
  // checked before the cache, whose key holds only one of them
  if ((request.featureService === undefined) === (request.features === undefined)) {
    throw new LarderError('INVALID_ARGUMENT', 'give either features or a featureService', {
      hint: "e.g. features: ['driver_hourly_stats:conv_rate']",
    })
  }
  const key = cacheKey(target.config, request)
  if (key === undefined) return buildPlan(target.config, state.catalog(target.config.project), request)
  let entry = plans.get(target.registry)
  if (entry === undefined || entry.version !== state.version) {
    entry = { version: state.version, byRequest: new Map() }
    plans.set(target.registry, entry)
  }
  let plan = entry.byRequest.get(key)
  if (plan === undefined) {
    plan = buildPlan(target.config, state.catalog(target.config.project), request)
    if (entry.byRequest.size >= MAX_PLANS) entry.byRequest.clear()
    entry.byRequest.set(key, plan)
  }
  return plan
}

function cacheKey(config: RepoConfig, request: FeatureSelectionRequest): string | undefined {
  const service = request.featureService
  if (service !== undefined && typeof service !== 'string') return undefined
  const what = service !== undefined ? `service\0${service}` : `refs\0${(request.features ?? []).join('\0')}`
  return `${config.project}\0${config.entityKeySerializationVersion}\0${Boolean(request.fullFeatureNames)}\0${what}`
}

function buildPlan(
  config: RepoConfig,
  catalog: ProjectCatalog,
  request: FeatureSelectionRequest,
): OnlinePlan {
  const { featureService, features } = request
  const service = typeof featureService === 'string' ? catalog.featureService(featureService) : featureService
  const wanted = onDemandRequested(catalog, service, features ?? [])
  const refs =
    service ??
    (features ?? []).filter(
      (r) => !catalog.onDemandFeatureViews.has(parseFeatureRef(r).view) && !isStreamViewRef(catalog, r),
    )
  const selections = [
    ...resolveFeatureRefs(refs, catalog.featureViews),
    ...streamViewSelections(catalog, service, features ?? []),
  ]
  const hidden = addOnDemandSources(catalog, selections, wanted, true)
  const full = Boolean(request.fullFeatureNames)
  const featureColumns: string[] = []
  const featureTypes: number[] = []
  const owners = new Map<string, string>()
  const joinKeys = new Map<string, { valueType: number; view: string }>()
  const keyGroups: KeyGroup[] = []
  const groupIndex = new Map<string, number>()
  const outputColumn = (name: string, feature: string, valueType: number): number => {
    const column = outputColumnName(name, feature, full)
    const owner = owners.get(column)
    if (owner !== undefined) {
      throw new LarderError(
        'INVALID_ARGUMENT',
        `feature "${feature}" is requested from both "${owner}" and "${name}", so both would be named "${column}"`,
        { hint: 'set fullFeatureNames (--full-feature-names) to name columns <view>__<feature>' },
      )
    }
    owners.set(column, name)
    featureColumns.push(column)
    featureTypes.push(valueType)
    return featureColumns.length - 1
  }
  const tileReads: TileRead[] = []
  const reads = selections.map(({ projection, features: names, windows }): ViewRead => {
    const view = projection.view
    checkOnline(view, catalog)
    const ref = viewRef(config.project, view)
    const name = projection.nameToUse
    const keyColumns = ref.joinKeys.map((k) => projection.joinKeyMap[k.name] ?? k.name)
    keyColumns.forEach((column, j) => {
      if (!joinKeys.has(column)) joinKeys.set(column, { valueType: ref.joinKeys[j]!.valueType, view: name })
    })
    const outputs = names.map((feature) =>
      hidden.has(`${name}\0${feature}`)
        ? -1
        : outputColumn(name, feature, view.feature(feature).dtype.valueType),
    )
    const keyGroup = keyGroupOf(
      ref,
      keyColumns,
      name,
      config.entityKeySerializationVersion,
      keyGroups,
      groupIndex,
    )
    const maxAgeMicros = Math.round(view.maxAge * 1_000_000)
    if (windows) {
      const tiles = tileViewRef(config.project, catalog.streamFeatureView(view.name))
      const wanted = windows.aggregations.map((a) =>
        tiles.aggregations.findIndex((t) => t.name === a.outputName),
      )
      const tileOutputs = wanted.map((i) => {
        const agg = tiles.aggregations[i]!
        return outputColumn(name, agg.name, agg.outputType.valueType)
      })
      tileReads.push({ name, ref: tiles, keyGroup, wanted, outputs: tileOutputs, maxAgeMicros })
    }
    return { name, ref, keyColumns, keyGroup, features: names, outputs, maxAgeMicros }
  })
  const requestFields = new Map<string, { dtype: FeastType; view: string }>()
  const onDemand = wanted.map(({ name, view: registered, features: names }): OnDemandRead => {
    // A view stored at write time is read like a feature view, above; nothing runs on read.
    const inputs = registered.inputs.map((input): OnDemandInputSource => {
      if (input.projection === undefined) {
        if (!requestFields.has(input.name)) requestFields.set(input.name, { dtype: input.dtype, view: name })
        return { name: input.name, request: input.name, dtype: input.dtype }
      }
      const read = reads.findIndex((r) => r.name === input.projection!.nameToUse)
      return { name: input.name, read, feature: reads[read]!.features.indexOf(input.name) }
    })
    const outputs = registered.schema.map((f) => {
      if (!names.includes(f.name)) return -1
      const column = outputColumnName(name, f.name, full)
      const owner = owners.get(column)
      if (owner !== undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `feature "${f.name}" is requested from both "${owner}" and "${name}", so both would be named "${column}"`,
          { hint: 'set fullFeatureNames (--full-feature-names) to name columns <view>__<feature>' },
        )
      }
      owners.set(column, name)
      featureColumns.push(column)
      featureTypes.push(f.dtype.valueType)
      return featureColumns.length - 1
    })
    return { view: registered, inputs, outputs }
  })
  return { featureColumns, featureTypes, joinKeys, reads, tileReads, keyGroups, onDemand, requestFields }
}

/** An on-demand view a request asks for, under the name it is reported as, with the outputs asked for. */
export interface OnDemandWanted {
  readonly name: string
  readonly view: OnDemandFeatureView
  readonly features: readonly string[]
}

/**
 * The on-demand views a request names, through the service's on-demand projections or references
 * to them, grouped by view in order of first appearance. A view stored at write time is returned as a
 * feature selection instead (see `addOnDemandSources`).
 */
export function onDemandRequested(
  catalog: ProjectCatalog,
  service: FeatureService | undefined,
  refs: readonly string[],
): OnDemandWanted[] {
  if (service) {
    return service.onDemandProjections.map((p) => {
      const view = catalog.onDemandFeatureView(p.view.name)
      return { name: p.nameToUse, view, features: p.features.map((f) => f.name) }
    })
  }
  const byView = new Map<string, { name: string; view: OnDemandFeatureView; features: string[] }>()
  for (const ref of refs) {
    const { view: name, feature } = parseFeatureRef(ref)
    const view = catalog.onDemandFeatureViews.get(name)
    if (!view) continue
    view.feature(feature)
    let entry = byView.get(name)
    if (!entry) {
      entry = { name, view, features: [] }
      byView.set(name, entry)
    }
    if (entry.features.includes(feature)) {
      throw new LarderError('INVALID_ARGUMENT', `feature reference "${ref}" is given twice`, {
        hint: 'list each feature once',
      })
    }
    entry.features.push(feature)
  }
  return [...byView.values()]
}

/**
 * Adds what the on-demand views need to the feature selections: for a view computed on read, its
 * source features (reported hidden unless requested too); with `readStored`, for a view stored at
 * write time, a read of its stored outputs, which then moves from `wanted` to the selections. Returns
 * the hidden `name\0feature` pairs.
 */
export function addOnDemandSources(
  catalog: ProjectCatalog,
  selections: FeatureSelection[],
  wanted: OnDemandWanted[],
  readStored: boolean,
): Set<string> {
  const hidden = new Set<string>()
  for (let i = 0; i < wanted.length; i++) {
    const { name, view, features } = wanted[i]!
    const stored = readStored ? view.storageView : undefined
    if (stored) {
      const projection = name === view.name ? stored.projection : stored.projection.withName(name)
      selections.push({ projection, features })
      wanted.splice(i--, 1)
      continue
    }
    for (const source of view.sourceProjections) {
      const projection = source.over(catalog.featureView(source.view.name))
      const names = projection.features.map((f) => f.name)
      let selection = selections.find((s) => s.projection.nameToUse === projection.nameToUse)
      if (!selection) {
        selection = { projection, features: [] }
        selections.push(selection)
      }
      const missing = names.filter((n) => !selection!.features.includes(n))
      for (const n of missing) hidden.add(`${projection.nameToUse}\0${n}`)
      if (missing.length) {
        const at = selections.indexOf(selection)
        selections[at] = { projection: selection.projection, features: [...selection.features, ...missing] }
      }
    }
  }
  return hidden
}

function keyGroupOf(
  ref: ViewRef,
  columns: readonly string[],
  view: string,
  version: EntityKeySerializationVersion,
  groups: KeyGroup[],
  index: Map<string, number>,
): number {
  const signature = JSON.stringify([ref.joinKeys, columns])
  const found = index.get(signature)
  if (found !== undefined) return found
  groups.push({
    columns,
    valueTypes: ref.joinKeys.map((k) => k.valueType),
    view,
    encode: entityKeyEncoder(ref, version),
  })
  index.set(signature, groups.length - 1)
  return groups.length - 1
}

function checkOnline(view: FeatureView, catalog: ProjectCatalog): void {
  if (view.online) return
  const online = [...catalog.featureViews.values()].filter((v) => v.online).map((v) => v.name)
  throw new LarderError(
    'INVALID_ARGUMENT',
    `feature view "${view.name}" is not served online (online: false), so its features cannot be read online`,
    { hint: `read it with getHistoricalFeatures, or set online: true; online views: ${knownNames(online)}` },
  )
}
