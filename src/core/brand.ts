/**
 * Definitions are recognised by this symbol rather than `instanceof`, because a feature repo may load
 * a second copy of the package (its own node_modules) next to the running CLI.
 */
export const definitionKind: unique symbol = Symbol.for('larderjs.definitionKind') as never

export type DefinitionKind =
  | 'Entity'
  | 'FeatureView'
  | 'OnDemandFeatureView'
  | 'StreamFeatureView'
  | 'FeatureService'
  | 'FileSource'
  | 'PushSource'
  | 'RequestSource'
  | 'PostgreSQLSource'
  | 'KafkaSource'
  | 'KinesisSource'
  | 'RedisStreamSource'
  | 'NatsSource'
  | 'Project'
  | 'Permission'
  | 'FeatureViewProjection'
  | 'OnDemandProjection'
  | 'StreamProjection'

export interface Branded<K extends DefinitionKind = DefinitionKind> {
  readonly [definitionKind]: K
}

/** The kind of a Larder definition, or undefined for any other value. */
export function kindOf(value: unknown): DefinitionKind | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const kind = (value as Partial<Branded>)[definitionKind]
  return typeof kind === 'string' ? kind : undefined
}

/** Narrows `value` to a definition of the given kind, whichever copy of the package made it. */
export function isKind<K extends DefinitionKind>(value: unknown, kind: K): value is Branded<K> {
  return kindOf(value) === kind
}
