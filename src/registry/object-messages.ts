import type { DescMessage, Message } from '@bufbuild/protobuf'
import { knownNames, LarderError } from '../core/index.js'
import { DataSourceSchema } from '../gen/feast/core/DataSource_pb.js'
import { EntitySchema } from '../gen/feast/core/Entity_pb.js'
import { FeatureServiceSchema } from '../gen/feast/core/FeatureService_pb.js'
import { FeatureViewSchema } from '../gen/feast/core/FeatureView_pb.js'
import { OnDemandFeatureViewSchema } from '../gen/feast/core/OnDemandFeatureView_pb.js'
import { PermissionSchema } from '../gen/feast/core/Permission_pb.js'
import { ProjectSchema } from '../gen/feast/core/Project_pb.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import { SavedDatasetSchema } from '../gen/feast/core/SavedDataset_pb.js'
import { StreamFeatureViewSchema } from '../gen/feast/core/StreamFeatureView_pb.js'
import type { ObjectKind } from './catalog.js'

/** One registry message with the schema to print it by. */
export interface ObjectMessage {
  readonly schema: DescMessage
  readonly message: Message
}

/**
 * The registry's own message for an object, as Feast stores it. Throws NOT_FOUND listing the names of
 * that kind in the project.
 */
export function getObjectMessage(
  registry: RegistryProto,
  project: string,
  kind: ObjectKind,
  name: string,
): ObjectMessage {
  const found = findObjectMessage(registry, project, kind, name)
  if (found) return found
  const names = namesOf(registry, project, kind)
  throw new LarderError('NOT_FOUND', `${kind} "${name}" not found in project "${project}"`, {
    hint: `known: ${knownNames(names)}`,
  })
}

function namesOf(registry: RegistryProto, project: string, kind: ObjectKind): string[] {
  switch (kind) {
    case 'entity':
      return registry.entities.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'feature view':
      return registry.featureViews.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'stream feature view':
      return registry.streamFeatureViews.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'on demand feature view':
      return registry.onDemandFeatureViews.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'feature service':
      return registry.featureServices.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'project':
      return registry.projects.map((m) => m.spec?.name ?? '')
    case 'data source':
      return registry.dataSources.filter((m) => m.project === project).map((m) => m.name)
    case 'saved dataset':
      return registry.savedDatasets.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
    case 'permission':
      return registry.permissions.filter((m) => m.spec?.project === project).map((m) => m.spec!.name)
  }
}

/** The registry's own message for an object, as Feast stores it, or undefined. */
export function findObjectMessage(
  registry: RegistryProto,
  project: string,
  kind: ObjectKind,
  name: string,
): ObjectMessage | undefined {
  const bySpec = <T extends Message & { spec?: { name: string; project?: string } }>(
    schema: DescMessage,
    list: T[],
  ) => {
    const message = list.find((m) => m.spec?.name === name && (m.spec.project ?? project) === project)
    return message ? { schema, message } : undefined
  }
  switch (kind) {
    case 'entity':
      return bySpec(EntitySchema, registry.entities)
    case 'feature view':
      return bySpec(FeatureViewSchema, registry.featureViews)
    case 'stream feature view':
      return bySpec(StreamFeatureViewSchema, registry.streamFeatureViews)
    case 'on demand feature view':
      return bySpec(OnDemandFeatureViewSchema, registry.onDemandFeatureViews)
    case 'feature service':
      return bySpec(FeatureServiceSchema, registry.featureServices)
    case 'project':
      return bySpec(ProjectSchema, registry.projects)
    case 'saved dataset':
      return bySpec(SavedDatasetSchema, registry.savedDatasets)
    case 'permission':
      return bySpec(PermissionSchema, registry.permissions)
    case 'data source': {
      const message = registry.dataSources.find((s) => s.name === name && s.project === project)
      return message ? { schema: DataSourceSchema, message } : undefined
    }
  }
}
