import { create } from '@bufbuild/protobuf'
import type { Micros } from '../core/index.js'
import {
  type SavedDataset as SavedDatasetProto,
  SavedDatasetSchema,
} from '../gen/feast/core/SavedDataset_pb.js'
import { microsFromTimestamp, timestampFromMicros } from './proto-mapping.js'

/** A training dataset written by a retrieval and registered by name (Feast's `SavedDataset`). */
export interface SavedDatasetInfo {
  readonly name: string
  /** Feature references `"view:feature"` in column order. */
  readonly features: readonly string[]
  readonly joinKeys: readonly string[]
  readonly fullFeatureNames: boolean
  /** The Parquet file holding the rows. */
  readonly path: string
  readonly featureServiceName: string
  readonly description: string
  readonly tags: Readonly<Record<string, string>>
  readonly createdAt: Micros | undefined
}

export function savedDatasetToProto(info: SavedDatasetInfo, project: string, now: Micros): SavedDatasetProto {
  return create(SavedDatasetSchema, {
    spec: {
      name: info.name,
      project,
      features: [...info.features],
      joinKeys: [...info.joinKeys],
      fullFeatureNames: info.fullFeatureNames,
      storage: {
        kind: {
          case: 'fileStorage',
          value: { uri: info.path, fileFormat: { format: { case: 'parquetFormat', value: {} } } },
        },
      },
      featureServiceName: info.featureServiceName,
      tags: { ...info.tags },
      description: info.description,
    },
    meta: {
      createdTimestamp: timestampFromMicros(info.createdAt ?? now),
      lastUpdatedTimestamp: timestampFromMicros(now),
    },
  })
}

export function savedDatasetFromProto(proto: SavedDatasetProto): SavedDatasetInfo {
  const spec = proto.spec!
  const storage = spec.storage?.kind
  return {
    name: spec.name,
    features: [...spec.features],
    joinKeys: [...spec.joinKeys],
    fullFeatureNames: spec.fullFeatureNames,
    path: storage?.case === 'fileStorage' ? storage.value.uri : '',
    featureServiceName: spec.featureServiceName,
    description: spec.description,
    tags: { ...spec.tags },
    createdAt: microsFromTimestamp(proto.meta?.createdTimestamp),
  }
}
