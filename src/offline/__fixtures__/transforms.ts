import { type DataType, Field, makeData, RecordBatch, Schema, Struct, vectorFromArray } from 'apache-arrow'
import type { ResultTransform } from '../offline-store.js'

// Result transforms for the engines' tests, standing in for on-demand views.

/** A column a transform appends: its Arrow type and its value in each row of a batch. */
export interface AppendedColumn {
  readonly type: DataType
  readonly value: (batch: RecordBatch, row: number) => unknown
}

/** A transform keeping the join's columns and appending `columns`, in their order. */
export function appending(columns: Readonly<Record<string, AppendedColumn>>): ResultTransform {
  const added = Object.entries(columns)
  return {
    columns: (joined) => [...joined, ...added.map(([name]) => name)],
    apply(batch) {
      const fields = [...batch.schema.fields, ...added.map(([name, c]) => new Field(name, c.type, true))]
      const children = [
        ...batch.data.children,
        ...added.map(
          ([, c]) =>
            vectorFromArray(
              Array.from({ length: batch.numRows }, (_, i) => c.value(batch, i)),
              c.type,
            ).data[0]!,
        ),
      ]
      const schema = new Schema(fields)
      return new RecordBatch(
        schema,
        makeData({ type: new Struct(fields), length: batch.numRows, nullCount: 0, children }),
      )
    },
  }
}
