import type { RecordBatch, Vector } from 'apache-arrow'
import {
  type EntityKeySerializationVersion,
  type EntityKeyValue,
  encodeValue,
  type FeastType,
  isLarderError,
  LarderError,
  typeFromValueType,
  valueTypeName,
} from '../core/index.js'
import type { PullColumns } from '../offline/index.js'
import { entityKeyEncoder, type OnlineWriteRow, type ViewRef } from '../online/online-store.js'
import { type ColumnReader, columnReader, timestampReader } from './arrow-values.js'

/**
 * Returns the function that turns one record batch of `pullLatest` for a view into online write rows:
 * entity key bytes for the store's key layout, one encoded Value per feature in `view.features` order,
 * and the event and created timestamps. Each batch is encoded once; the rows hold no reference to it.
 * Throws INVALID_ARGUMENT naming the view, the column and the entity when a value does not fit its
 * declared type, and when the batch lacks a column the view needs.
 *
 * @example const encode = writeRowEncoder(ref, pullColumns(view), 3); await online.write(ref, encode(batch))
 */
export function writeRowEncoder(
  view: ViewRef,
  columns: PullColumns,
  version: EntityKeySerializationVersion,
): (batch: RecordBatch) => OnlineWriteRow[] {
  const encodeKey = entityKeyEncoder(view, version)
  const keyTypes = view.joinKeys.map((k) => typeFromValueType(k.valueType) as FeastType)
  const featureTypes = view.features.map((f) => f.type)
  const where = `feature view "${view.name}"`
  return (batch) => {
    const column = (name: string): Vector => {
      const child = batch.getChild(name)
      if (child === null) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `the offline store returned no column "${name}" for ${where}`,
          {
            hint: `columns returned: ${batch.schema.fields.map((f) => f.name).join(', ')}`,
          },
        )
      }
      return child
    }
    const keys: ColumnReader[] = view.joinKeys.map((k, j) =>
      columnReader(column(k.name), keyTypes[j]!, `join key "${k.name}" of ${where}`),
    )
    const features: ColumnReader[] = view.features.map((f) =>
      columnReader(column(f.name), f.type, `feature "${f.name}" of ${where}`),
    )
    const eventTs = timestampReader(
      column(columns.eventTimestamp),
      `timestamp field "${columns.eventTimestamp}" of ${where}`,
    )
    const createdTs =
      columns.createdTimestamp === undefined
        ? undefined
        : timestampReader(
            column(columns.createdTimestamp),
            `created timestamp column "${columns.createdTimestamp}" of ${where}`,
          )
    const n = batch.numRows
    const rows: OnlineWriteRow[] = new Array(n)
    const keyValues: EntityKeyValue[] = new Array(keys.length)
    const f = features.length
    let row = 0
    let at = -1
    try {
      for (; row < n; row++) {
        at = -1
        for (let j = 0; j < keys.length; j++) keyValues[j] = keys[j]!(row) as EntityKeyValue
        const entityKey = encodeKey(keyValues)
        const values: Uint8Array[] = new Array(f)
        for (at = 0; at < f; at++) values[at] = encodeValue(featureTypes[at]!, features[at]!(row))
        at = f
        const ts = eventTs(row)
        if (ts === undefined) throw new LarderError('INVALID_ARGUMENT', `the event timestamp is null`)
        rows[row] = { entityKey, values, eventTs: ts, createdTs: createdTs?.(row) }
      }
    } catch (e) {
      throw rowError(view, keys, row, at, e)
    }
    return rows
  }
}

/** Names the view, the entity (its join key values) and the column of a value that could not be encoded. */
function rowError(
  view: ViewRef,
  keys: readonly ColumnReader[],
  row: number,
  at: number,
  cause: unknown,
): Error {
  if (!isLarderError(cause)) return cause as Error
  const entity =
    view.joinKeys.length === 0
      ? 'the entity-less row'
      : view.joinKeys.map((k, j) => `${k.name}=${describe(safeRead(keys[j]!, row))}`).join(', ')
  const feature = view.features[at]
  const column =
    at < 0
      ? `its entity key (${view.joinKeys.map((k) => `${k.name}: ${valueTypeName(k.valueType)}`).join(', ')})`
      : feature
        ? `feature "${feature.name}" (${feature.type.name})`
        : 'its timestamps'
  return new LarderError(
    'INVALID_ARGUMENT',
    `cannot materialize ${column} of feature view "${view.name}" for ${entity}: ${cause.message}`,
    {
      hint: cause.hint ?? 'make the source column match the type declared in the feature view',
      cause,
      details: { view: view.name, ...(feature && at >= 0 ? { feature: feature.name } : {}) },
    },
  )
}

function safeRead(read: ColumnReader, row: number): unknown {
  try {
    return read(row)
  } catch {
    return undefined
  }
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'bigint') return `${v}n`
  return String(v)
}
