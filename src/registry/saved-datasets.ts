import { create } from '@bufbuild/protobuf'
import { type Micros, postgresOptionsJson } from '../core/index.js'
import {
  type SavedDataset as SavedDatasetProto,
  SavedDatasetSchema,
} from '../gen/feast/core/SavedDataset_pb.js'
import { LARDER_TAGS, microsFromTimestamp, timestampFromMicros } from './proto-mapping.js'

/** A training dataset written by a retrieval and registered by name (Feast's `SavedDataset`). */
export interface SavedDatasetInfo {
  readonly name: string
  /** Feature references `"view:feature"` in column order. */
  readonly features: readonly string[]
  readonly joinKeys: readonly string[]
  readonly fullFeatureNames: boolean
  /** The Parquet file holding the rows; empty when they are in a table. */
  readonly path: string
  /**
   * The PostgreSQL table holding the rows (Feast's `SavedDatasetPostgreSQLStorage`), when they were
   * saved to the offline store's database instead of a file.
   */
  readonly table?: string
  readonly featureServiceName: string
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly createdAt: Micros | undefined
  /**
   * The least and greatest event timestamp of the entity rows the dataset was retrieved for (for
   * entity-less range retrieval, the range's start and end): Feast's `SavedDatasetMeta`
   * `min_event_timestamp` and `max_event_timestamp`. Absent when not recorded (no entity row had a
   * timestamp, or the dataset was saved by a Larder that did not record them).
   */
  readonly eventRange?: { readonly min: Micros; readonly max: Micros }
  /**
   * The training-set receipt the dataset was saved with (JSON text), kept in the registry as the tag
   * `larder.dev/receipt`, which Feast keeps and ignores; not listed among `tags`.
   */
  readonly receiptJson?: string
}

/**
 * The registry message of a saved dataset, laid out as Feast writes it: `meta` carries the creation
 * time (`now` when `createdAt` is not given), `now` as the last update and, when known, the event range
 * (fields 3 and 4).
 */
export function savedDatasetToProto(info: SavedDatasetInfo, project: string, now: Micros): SavedDatasetProto {
  return create(SavedDatasetSchema, {
    spec: {
      name: info.name,
      project,
      features: [...info.features],
      joinKeys: [...info.joinKeys],
      fullFeatureNames: info.fullFeatureNames,
      storage: {
        kind: info.table
          ? { case: 'customStorage', value: { configuration: postgresStorageConfiguration(info.table) } }
          : {
              case: 'fileStorage',
              value: { uri: info.path, fileFormat: { format: { case: 'parquetFormat', value: {} } } },
            },
      },
      featureServiceName: info.featureServiceName,
      tags:
        info.receiptJson === undefined
          ? { ...info.tags }
          : { ...info.tags, [LARDER_TAGS.receipt]: info.receiptJson },
      description: info.description,
    },
    meta: {
      createdTimestamp: timestampFromMicros(info.createdAt ?? now),
      lastUpdatedTimestamp: timestampFromMicros(now),
      ...(info.eventRange === undefined
        ? {}
        : {
            minEventTimestamp: timestampFromMicros(info.eventRange.min),
            maxEventTimestamp: timestampFromMicros(info.eventRange.max),
          }),
    },
  })
}

/**
 * A saved dataset as Larder shows it, from its registry message (Feast's or Larder's). The event range
 * is read only when both of its ends are recorded.
 */
export function savedDatasetFromProto(proto: SavedDatasetProto): SavedDatasetInfo {
  const spec = proto.spec!
  const storage = spec.storage?.kind
  const min = microsFromTimestamp(proto.meta?.minEventTimestamp)
  const max = microsFromTimestamp(proto.meta?.maxEventTimestamp)
  return {
    name: spec.name,
    features: [...spec.features],
    joinKeys: [...spec.joinKeys],
    fullFeatureNames: spec.fullFeatureNames,
    path: storage?.case === 'fileStorage' ? storage.value.uri : '',
    ...(storage?.case === 'customStorage' ? tableOf(storage.value.configuration) : {}),
    featureServiceName: spec.featureServiceName,
    description: spec.description,
    tags: Object.fromEntries(Object.entries(spec.tags).filter(([k]) => k !== LARDER_TAGS.receipt)),
    createdAt: microsFromTimestamp(proto.meta?.createdTimestamp),
    ...(min === undefined || max === undefined ? {} : { eventRange: { min, max } }),
    ...(spec.tags[LARDER_TAGS.receipt] === undefined ? {} : { receiptJson: spec.tags[LARDER_TAGS.receipt] }),
  }
}

/** The `custom_storage` configuration Feast's `SavedDatasetPostgreSQLStorage` writes (name and query empty). */
function postgresStorageConfiguration(table: string): Uint8Array {
  return new TextEncoder().encode(postgresOptionsJson({ name: '', query: '', table }))
}

/** The table of a `custom_storage` configuration, when it names one (else nothing). */
function tableOf(configuration: Uint8Array): { table?: string } {
  try {
    const parsed = JSON.parse(new TextDecoder().decode(configuration)) as { table?: unknown }
    return typeof parsed.table === 'string' && parsed.table !== '' ? { table: parsed.table } : {}
  } catch {
    return {}
  }
}
