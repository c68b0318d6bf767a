import {
  Field as ArrowField,
  Binary,
  Bool,
  type DataType,
  Float32,
  Float64,
  Int32,
  Int64,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow'
import {
  type DeployedOnDemandViews,
  type FeastType,
  type FeastValue,
  type FeatureService,
  LarderError,
  outputColumnName,
  parseFeatureRef,
  requestValue,
  runTransformation,
  transformOf,
  ValueType,
} from '../core/index.js'
import { type FeatureSelection, type ResultTransform, resolveFeatureRefs } from '../offline/index.js'
import type { ProjectCatalog } from '../registry/index.js'
import { addOnDemandSources, type OnDemandWanted, onDemandRequested } from './online-plan.js'
import { isStreamViewRef, streamViewSelections } from './stream-views.js'

/** A historical request with its on-demand views resolved: the join's selections and the rewrite after it. */
export interface HistoricalOnDemandPlan {
  /** What the point-in-time join reads, including on-demand sources nobody asked for (dropped afterwards). */
  readonly selections: FeatureSelection[]
  /** The on-demand views asked for, to be computed after the join. */
  readonly wanted: readonly OnDemandWanted[]
  /** The join's output columns to drop after the views ran. */
  readonly hidden: ReadonlySet<string>
}

/**
 * Resolves references or a service for historical retrieval, on-demand views included. A view stored
 * online at write time is computed here from its source too, since only online storage holds its output.
 */
export function historicalOnDemandPlan(
  catalog: ProjectCatalog,
  request: readonly string[] | FeatureService,
  fullFeatureNames: boolean,
): HistoricalOnDemandPlan {
  const service = Array.isArray(request) ? undefined : (request as FeatureService)
  const refs = service ? [] : (request as readonly string[])
  const wanted = onDemandRequested(catalog, service, refs)
  const selections = [
    ...resolveFeatureRefs(
      service ??
        refs.filter(
          (r) => !catalog.onDemandFeatureViews.has(parseFeatureRef(r).view) && !isStreamViewRef(catalog, r),
        ),
      catalog.featureViews,
    ),
    ...streamViewSelections(catalog, service, refs),
  ]
  const pairs = addOnDemandSources(catalog, selections, wanted, false)
  const hidden = new Set(
    [...pairs].map((pair) => {
      const [view, feature] = pair.split('\0') as [string, string]
      return outputColumnName(view, feature, fullFeatureNames)
    }),
  )
  for (const w of wanted) for (const f of w.features) arrowTypeOf(w.view.feature(f).dtype, w.view.name, f)
  return { selections, wanted, hidden }
}

/**
 * The rewrite that runs the on-demand views over each batch of the join's result: inputs are read
 * from the batch's columns (source features by their output names, request fields from the entity
 * table's columns, checked against their declared types), outputs are appended as Arrow columns
 * after the join's, and source features nobody asked for are dropped. Inputs become JS arrays one
 * batch at a time; the result stays Arrow.
 *
 * Throws INVALID_ARGUMENT naming the field when the entity table lacks a request field.
 */
export function onDemandResultTransform(
  plan: HistoricalOnDemandPlan,
  deployed: DeployedOnDemandViews | undefined,
  fullFeatureNames: boolean,
): ResultTransform {
  const runs = plan.wanted.map((w) => ({
    ...w,
    fn: transformOf(w.view, deployed),
    outputs: w.view.schema.map((f) =>
      w.features.includes(f.name) ? outputColumnName(w.name, f.name, fullFeatureNames) : undefined,
    ),
  }))
  const entityColumns = (joined: readonly string[]) => joined.filter((c) => !plan.hidden.has(c))
  return {
    columns: (joined) => {
      for (const run of runs) {
        for (const f of run.view.requestFields) {
          if (!joined.includes(f.name)) {
            throw new LarderError(
              'INVALID_ARGUMENT',
              `the entity table lacks the column "${f.name}" that on-demand feature view "${run.name}" needs`,
              {
                hint: `add a "${f.name}" column with the request value of each row`,
                details: { field: f.name },
              },
            )
          }
        }
      }
      return [...entityColumns(joined), ...runs.flatMap((r) => r.outputs.filter((o) => o !== undefined))]
    },
    apply: (batch) => {
      const rows = batch.numRows
      const byName = new Map(batch.schema.fields.map((f, j) => [f.name, batch.getChildAt(j)!]))
      const fields: ArrowField[] = []
      const children: Vector[] = []
      batch.schema.fields.forEach((f, j) => {
        if (plan.hidden.has(f.name)) return
        fields.push(f)
        children.push(batch.getChildAt(j)!)
      })
      const keyNames = batch.schema.fields.map((f) => f.name).filter((n) => !plan.hidden.has(n))
      const rowLabel = (r: number) =>
        `entity row ${r} of the batch (${keyNames
          .slice(0, 3)
          .map((n) => `${n}=${String(byName.get(n)!.get(r))}`)
          .join(', ')})`
      for (const run of runs) {
        const inputs: Record<string, unknown[]> = {}
        for (const input of run.view.inputs) {
          const column = input.projection
            ? byName.get(outputColumnName(input.projection.nameToUse, input.name, fullFeatureNames))!
            : byName.get(input.name)!
          inputs[input.name] = readColumn(column, input.name, input.dtype, rows)
        }
        const outputs = runTransformation(run.view, run.fn, inputs, rows, rowLabel)
        run.view.schema.forEach((f, j) => {
          const name = run.outputs[j]
          if (name === undefined) return
          const type = arrowTypeOf(f.dtype, run.view.name, f.name)
          fields.push(new ArrowField(name, type, true))
          children.push(toVector(outputs[j]!, type))
        })
      }
      const schema = new Schema(fields)
      const data = makeData({
        type: new Struct(fields),
        length: rows,
        nullCount: 0,
        children: children.map((c) => c.data[0]!),
      })
      return new RecordBatch(schema, data)
    },
  }
}

/** A column of the join's result as the values online serving would hand the transformation. */
function readColumn(column: Vector, name: string, dtype: FeastType, rows: number): FeastValue[] {
  const out = new Array<FeastValue>(rows)
  const plain =
    dtype.valueType === ValueType.DOUBLE ||
    dtype.valueType === ValueType.FLOAT ||
    dtype.valueType === ValueType.INT32 ||
    dtype.valueType === ValueType.STRING ||
    dtype.valueType === ValueType.BOOL
  for (let r = 0; r < rows; r++) {
    const v = column.isValid(r) ? (column.get(r) as unknown) : null
    // Plain scalars already have the codec's form; the rest go through it (an int64 bigint becomes a number when exact).
    out[r] =
      v === null ? null : plain && typeof v !== 'bigint' ? (v as FeastValue) : requestValue(name, dtype, v, r)
  }
  return out
}

const ARROW_TYPES: Readonly<Record<number, () => DataType>> = {
  [ValueType.DOUBLE]: () => new Float64(),
  [ValueType.FLOAT]: () => new Float32(),
  [ValueType.INT32]: () => new Int32(),
  [ValueType.INT64]: () => new Int64(),
  [ValueType.STRING]: () => new Utf8(),
  [ValueType.BOOL]: () => new Bool(),
  [ValueType.BYTES]: () => new Binary(),
}

function arrowTypeOf(dtype: FeastType, view: string, field: string): DataType {
  const make = ARROW_TYPES[dtype.valueType]
  if (!make) {
    throw new LarderError(
      'UNSUPPORTED',
      `on-demand feature view "${view}" outputs "${field}" as ${dtype.name}, which historical retrieval cannot write yet`,
      { hint: 'use Float64, Float32, Int64, Int32, String, Bool or Bytes outputs, or read it online' },
    )
  }
  return make()
}

function toVector(values: FeastValue[], type: DataType): Vector {
  const converted =
    type instanceof Int64 ? values.map((v) => (v === null ? null : BigInt(v as number | bigint))) : values
  return vectorFromArray(converted as unknown[], type)
}
