import type {
  DataSource,
  Entity,
  FeatureService,
  FeatureView,
  Micros,
  OnDemandFeatureView,
  Project,
  StreamFeatureView,
} from '../core/index.js'
import { knownNames, LarderError } from '../core/index.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import {
  dataSourceFromProto,
  entityFromProto,
  featureServiceFromProto,
  featureViewFromProto,
  microsFromTimestamp,
  onDemandFeatureViewFromProto,
  projectFromProto,
  UnsupportedObject,
} from './proto-mapping.js'
import { type SavedDatasetInfo, savedDatasetFromProto } from './saved-datasets.js'
import { streamFeatureViewFromProto } from './stream-mapping.js'

/** A half-open record of one successful materialization window. */
export interface MaterializationInterval {
  readonly start: Micros
  readonly end: Micros
}

/** Bookkeeping the registry holds about an object, next to its definition. */
export interface ObjectMeta {
  readonly createdAt: Micros | undefined
  readonly updatedAt: Micros | undefined
}

export interface FeatureViewMeta extends ObjectMeta {
  readonly materializationIntervals: readonly MaterializationInterval[]
}

/** The kinds of object a catalog lists, with their CLI names. */
export const OBJECT_KINDS = [
  'entity',
  'data source',
  'feature view',
  'stream feature view',
  'on demand feature view',
  'feature service',
  'project',
  'saved dataset',
  'permission',
] as const
export type ObjectKind = (typeof OBJECT_KINDS)[number]

/** An object of the registry that this version of Larder cannot turn into a definition. */
export interface SkippedObject {
  readonly kind: ObjectKind
  readonly name: string
  readonly reason: string
}

/**
 * One project's objects, decoded from the registry into definitions. Lookups throw a NOT_FOUND error
 * that lists the known names. Objects Larder cannot represent (a BigQuery source, a Python batch
 * transformation) are listed in `skipped` rather than failing the whole registry.
 */
export class ProjectCatalog {
  readonly project: string
  readonly entities: ReadonlyMap<string, Entity>
  readonly dataSources: ReadonlyMap<string, DataSource>
  readonly featureViews: ReadonlyMap<string, FeatureView>
  /** Stream views, their transformation known by its source text (the function comes from the deployed repo). */
  readonly streamFeatureViews: ReadonlyMap<string, StreamFeatureView>
  /** On-demand views, known by their transformation's source text (the function comes from the deployed repo). */
  readonly onDemandFeatureViews: ReadonlyMap<string, OnDemandFeatureView>
  readonly featureServices: ReadonlyMap<string, FeatureService>
  readonly savedDatasets: ReadonlyMap<string, SavedDatasetInfo>
  readonly projectObject: Project | undefined
  readonly skipped: readonly SkippedObject[]
  readonly #meta: Map<string, ObjectMeta | FeatureViewMeta>

  constructor(proto: RegistryProto, project: string) {
    this.project = project
    const skipped: SkippedObject[] = []
    this.#meta = new Map()
    const load = <P extends { spec?: { name: string; project: string }; meta?: unknown }, T>(
      kind: ObjectKind,
      items: readonly P[],
      map: (p: P) => T,
    ): Map<string, T> => {
      const out = new Map<string, T>()
      for (const item of items) {
        if (item.spec?.project !== project) continue
        try {
          out.set(item.spec.name, map(item))
          this.#meta.set(`${kind}:${item.spec.name}`, metaOf(item.meta as MetaProto | undefined))
        } catch (e) {
          if (!(e instanceof UnsupportedObject || e instanceof LarderError)) throw e
          skipped.push({ kind, name: item.spec.name, reason: e.message })
        }
      }
      return out
    }
    this.entities = load('entity', proto.entities, entityFromProto)
    const sources = new Map<string, DataSource>()
    for (const s of proto.dataSources) {
      if (s.project !== project) continue
      try {
        sources.set(s.name, dataSourceFromProto(s))
      } catch (e) {
        if (!(e instanceof UnsupportedObject || e instanceof LarderError)) throw e
        skipped.push({ kind: 'data source', name: s.name, reason: e.message })
      }
    }
    this.dataSources = sources
    this.featureViews = load('feature view', proto.featureViews, (p) =>
      featureViewFromProto(p, this.entities),
    )
    this.streamFeatureViews = load('stream feature view', proto.streamFeatureViews, (p) =>
      streamFeatureViewFromProto(p, this.entities),
    )
    this.onDemandFeatureViews = load('on demand feature view', proto.onDemandFeatureViews, (p) =>
      onDemandFeatureViewFromProto(p, this.featureViews),
    )
    this.featureServices = load('feature service', proto.featureServices, (p) =>
      featureServiceFromProto(p, this.featureViews, this.onDemandFeatureViews, this.streamFeatureViews),
    )
    this.savedDatasets = new Map(
      proto.savedDatasets
        .filter((d) => d.spec?.project === project)
        .map((d) => [d.spec!.name, savedDatasetFromProto(d)]),
    )
    const projectProto = proto.projects.find((p) => p.spec?.name === project)
    this.projectObject = projectProto ? projectFromProto(projectProto) : undefined
    if (projectProto) this.#meta.set(`project:${project}`, metaOf(projectProto.meta))
    this.skipped = Object.freeze(skipped)
  }

  /** True when the registry holds nothing for this project. */
  get isEmpty(): boolean {
    return (
      this.entities.size +
        this.dataSources.size +
        this.featureViews.size +
        this.streamFeatureViews.size +
        this.onDemandFeatureViews.size +
        this.featureServices.size ===
        0 && this.skipped.length === 0
    )
  }

  entity(name: string): Entity {
    return this.#get('entity', this.entities, name)
  }

  dataSource(name: string): DataSource {
    return this.#get('data source', this.dataSources, name)
  }

  featureView(name: string): FeatureView {
    return this.#get('feature view', this.featureViews, name)
  }

  /**
   * The stream view with this name. One that Feast wrote with a Python transformation is returned (its
   * `transformation.mode` says so); the stream processor refuses to run it.
   */
  streamFeatureView(name: string): StreamFeatureView {
    return this.#get('stream feature view', this.streamFeatureViews, name)
  }

  /**
   * The on-demand view with this name. One that Feast wrote with a Python transformation is returned
   * (its `transformation.mode` says so); serving refuses to run it.
   */
  onDemandFeatureView(name: string): OnDemandFeatureView {
    return this.#get('on demand feature view', this.onDemandFeatureViews, name)
  }

  featureService(name: string): FeatureService {
    return this.#get('feature service', this.featureServices, name)
  }

  savedDataset(name: string): SavedDatasetInfo {
    return this.#get('saved dataset', this.savedDatasets, name)
  }

  /** Created/updated times of an object, as the registry recorded them. */
  meta(kind: ObjectKind, name: string): ObjectMeta {
    return this.#meta.get(`${kind}:${name}`) ?? { createdAt: undefined, updatedAt: undefined }
  }

  /** The materialization intervals recorded for a feature view or stream feature view, oldest first. */
  materializationIntervals(view: string): readonly MaterializationInterval[] {
    const meta = this.#meta.get(`feature view:${view}`) ?? this.#meta.get(`stream feature view:${view}`)
    return (meta as FeatureViewMeta | undefined)?.materializationIntervals ?? []
  }

  #get<T>(kind: ObjectKind, map: ReadonlyMap<string, T>, name: string): T {
    const found = map.get(name)
    if (found !== undefined) return found
    const skipped = this.skipped.find((s) => s.kind === kind && s.name === name)
    if (skipped) {
      throw new LarderError('UNSUPPORTED', `${kind} "${name}" cannot be used by Larder: ${skipped.reason}`, {
        hint: 'redefine it in TypeScript with the sources and types Larder supports, then run `larder apply`',
      })
    }
    throw new LarderError('NOT_FOUND', `${kind} "${name}" not found in project "${this.project}"`, {
      hint: `known: ${knownNames(map.keys())}`,
    })
  }
}

interface MetaProto {
  createdTimestamp?: Parameters<typeof microsFromTimestamp>[0]
  lastUpdatedTimestamp?: Parameters<typeof microsFromTimestamp>[0]
  materializationIntervals?: {
    startTime?: Parameters<typeof microsFromTimestamp>[0]
    endTime?: Parameters<typeof microsFromTimestamp>[0]
  }[]
}

function metaOf(meta: MetaProto | undefined): FeatureViewMeta {
  return {
    createdAt: microsFromTimestamp(meta?.createdTimestamp),
    updatedAt: microsFromTimestamp(meta?.lastUpdatedTimestamp),
    materializationIntervals: (meta?.materializationIntervals ?? []).map((i) => ({
      start: microsFromTimestamp(i.startTime) ?? 0,
      end: microsFromTimestamp(i.endTime) ?? 0,
    })),
  }
}

/** Every project named anywhere in the registry, sorted. */
export function projectNames(proto: RegistryProto): string[] {
  const names = new Set<string>()
  for (const p of proto.projects) if (p.spec) names.add(p.spec.name)
  for (const list of [
    proto.entities,
    proto.featureViews,
    proto.streamFeatureViews,
    proto.featureServices,
    proto.onDemandFeatureViews,
  ]) {
    for (const o of list) if (o.spec?.project) names.add(o.spec.project)
  }
  for (const s of proto.dataSources) if (s.project) names.add(s.project)
  return [...names].sort()
}
