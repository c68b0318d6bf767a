import { readFileSync } from 'node:fs'
import type { JsonValue } from '@bufbuild/protobuf'
import { z } from 'zod'
import { LarderError } from '../core/index.js'
import type { SourceFingerprint } from '../offline/index.js'
import { OBJECT_KINDS, type ObjectKind, writeAtomically } from '../registry/index.js'

/** The `format` of every receipt this version writes and reads. */
export const RECEIPT_FORMAT = 'larder.training-set-receipt/1'

/**
 * What a training set was built from and what it holds: enough to rebuild it (`larder reproduce`,
 * `FeatureStore.reproduce`) and say whether the rebuild is identical, and if not, which input changed.
 * Paths are relative to the feature repo's directory, with `/` separators, so a receipt stays valid when
 * the repo moves.
 */
export interface TrainingSetReceipt {
  readonly format: typeof RECEIPT_FORMAT
  /** The Larder version that wrote the set. */
  readonly larderVersion: string
  /** When the set was written (RFC 3339, UTC). */
  readonly createdAt: string
  readonly project: string
  /** The offline store's type (`duckdb`, `postgres`): engines break ties on equal rows differently. */
  readonly offlineStore: string
  readonly query: ReceiptQuery
  readonly entities: ReceiptEntities
  /** The registry objects the retrieval used: views, on-demand views, the service, entities, sources. */
  readonly objects: readonly ReceiptObject[]
  /** What each batch source read held, taken just before its rows were read. */
  readonly sources: readonly ReceiptSource[]
  readonly output: ReceiptOutput
}

/** The request, as given: what `reproduce` asks again. */
export interface ReceiptQuery {
  /** The feature references asked for; null when a feature service was. */
  readonly features: readonly string[] | null
  readonly featureService: string | null
  readonly fullFeatureNames: boolean
  readonly asOfKnownTime: boolean
  /** Entity-less range retrieval: the range (RFC 3339, UTC); null with an entity input. */
  readonly startDate: string | null
  readonly endDate: string | null
  /** The `view:feature` references the set holds, in column order. */
  readonly resolvedFeatures: readonly string[]
}

/**
 * The entity input. `rows` is the number of entity rows (the point-in-time join keeps every one, so
 * it is also the output's row count). `weak` says that the hash does not cover the rows themselves:
 * for a query, the hash is of its text; for a glob, there is none.
 */
export type ReceiptEntities =
  | {
      /** A Parquet or CSV file or a directory of them: the SHA-256 of its bytes (of a directory, of its files' hashes). */
      readonly kind: 'file'
      readonly path: string
      readonly sha256: string | null
      readonly rows: number
      readonly weak: boolean
    }
  | {
      /** Rows given in memory (an array of objects, or an Arrow table). */
      readonly kind: 'rows' | 'arrow'
      readonly sha256: string
      readonly rows: number
      readonly weak: false
    }
  | {
      /** A query the offline store ran; its text is kept and hashed. */
      readonly kind: 'sql'
      readonly sql: string
      readonly sha256: string
      readonly rows: number
      readonly weak: true
    }
  | {
      /** No entity input: every row of the views between `query.startDate` and `query.endDate`. */
      readonly kind: 'range'
      readonly rows: number
      readonly weak: false
    }

/**
 * One registry object: the SHA-256 of its definition (Feast's spec message, serialized, without the
 * registry's bookkeeping: timestamps and materialization intervals) and the definition as proto3 JSON.
 */
export interface ReceiptObject {
  readonly kind: ObjectKind
  readonly name: string
  readonly sha256: string
  readonly definition: JsonValue
}

/** A batch source by name, with what it held. */
export type ReceiptSource = { readonly name: string } & SourceFingerprint

/**
 * Where the set was written and its content hash: a file's SHA-256, or a table's digest (its rows'
 * text forms in byte order, see the offline store's `TableDigest`).
 */
export interface ReceiptOutput {
  readonly kind: 'parquet' | 'csv' | 'table'
  /** The file written (relative to the repo); absent for a table. */
  readonly path?: string
  /** The table written, as given; absent for a file. */
  readonly table?: string
  readonly rows: number
  readonly columns: readonly string[]
  readonly sha256: string
}

const sourceFile = z.object({ path: z.string(), bytes: z.number(), sha256: z.string() })

const receiptSchema = z.object({
  format: z.literal(RECEIPT_FORMAT),
  larderVersion: z.string(),
  createdAt: z.string(),
  project: z.string(),
  offlineStore: z.string(),
  query: z.object({
    features: z.array(z.string()).nullable(),
    featureService: z.string().nullable(),
    fullFeatureNames: z.boolean(),
    asOfKnownTime: z.boolean(),
    startDate: z.string().nullable(),
    endDate: z.string().nullable(),
    resolvedFeatures: z.array(z.string()),
  }),
  entities: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('file'),
      path: z.string(),
      sha256: z.string().nullable(),
      rows: z.number(),
      weak: z.boolean(),
    }),
    z.object({
      kind: z.enum(['rows', 'arrow']),
      sha256: z.string(),
      rows: z.number(),
      weak: z.literal(false),
    }),
    z.object({
      kind: z.literal('sql'),
      sql: z.string(),
      sha256: z.string(),
      rows: z.number(),
      weak: z.literal(true),
    }),
    z.object({ kind: z.literal('range'), rows: z.number(), weak: z.literal(false) }),
  ]),
  objects: z.array(
    z.object({
      kind: z.enum(OBJECT_KINDS),
      name: z.string(),
      sha256: z.string(),
      definition: z.json(),
    }),
  ),
  sources: z.array(
    z.discriminatedUnion('kind', [
      z.object({
        name: z.string(),
        kind: z.literal('files'),
        location: z.string(),
        files: z.array(sourceFile),
        weak: z.literal(false),
      }),
      z.object({
        name: z.string(),
        kind: z.literal('table'),
        relation: z.string(),
        rows: z.number(),
        maxTimestamp: z.string().nullable(),
        weak: z.literal(true),
      }),
    ]),
  ),
  output: z.object({
    kind: z.enum(['parquet', 'csv', 'table']),
    path: z.string().optional(),
    table: z.string().optional(),
    rows: z.number(),
    columns: z.array(z.string()),
    sha256: z.string(),
  }),
})

/**
 * Checks a parsed JSON value against the receipt format and returns it typed. INVALID_ARGUMENT names
 * `where` (a file, a saved dataset) and the first field at fault.
 */
export function parseReceipt(value: unknown, where: string): TrainingSetReceipt {
  const format = (value as { format?: unknown } | null)?.format
  if (
    typeof format === 'string' &&
    format !== RECEIPT_FORMAT &&
    format.startsWith('larder.training-set-receipt/')
  ) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${where} has receipt format "${format}"; this Larder reads "${RECEIPT_FORMAT}"`,
      {
        hint: 'reproduce it with the Larder version that wrote it (larderVersion in the receipt)',
      },
    )
  }
  const parsed = receiptSchema.safeParse(value)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!
    const at = issue.path.length > 0 ? issue.path.join('.') : '(top level)'
    throw new LarderError(
      'INVALID_ARGUMENT',
      `${where} is not a training-set receipt: ${at}: ${issue.message}`,
      {
        hint: 'give the .receipt.json file written beside the training set (or by --receipt)',
      },
    )
  }
  return parsed.data as TrainingSetReceipt
}

/** Reads and checks a receipt file. NOT_FOUND for a missing file, INVALID_ARGUMENT for anything else. */
export function readReceiptFile(path: string): TrainingSetReceipt {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT'
    throw new LarderError(
      missing ? 'NOT_FOUND' : 'INVALID_ARGUMENT',
      `receipt ${path} cannot be read: ${missing ? 'no such file' : (cause as Error).message}`,
      { cause, hint: 'give the path of a .receipt.json file written with a training set' },
    )
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (cause) {
    throw new LarderError('INVALID_ARGUMENT', `receipt ${path} is not JSON: ${(cause as Error).message}`, {
      cause,
      hint: 'give the .receipt.json file written beside the training set',
    })
  }
  return parseReceipt(json, `receipt ${path}`)
}

/** The receipt as the file holds it: indented JSON with a final newline. */
export function receiptText(receipt: TrainingSetReceipt): string {
  return `${JSON.stringify(receipt, null, 2)}\n`
}

/** Writes a receipt file atomically (a temporary file renamed into place), creating no directories. */
export async function writeReceiptFile(path: string, receipt: TrainingSetReceipt): Promise<void> {
  try {
    await writeAtomically(path, new TextEncoder().encode(receiptText(receipt)))
  } catch (cause) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `receipt ${path} cannot be written: ${(cause as Error).message}`,
      {
        cause,
        hint: 'write the receipt into an existing directory the process may write to',
      },
    )
  }
}

/** The receipt file written beside a training-set file by default: `<file>.receipt.json`. */
export function receiptPathFor(output: string): string {
  return `${output}.receipt.json`
}
