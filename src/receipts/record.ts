import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { isArrowTable, type Table, tableToIPC } from 'apache-arrow'
import { type Abortable, type BatchSource, formatMicros, LarderError, nowMicros } from '../core/index.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import {
  type EntityInput,
  entityQueryText,
  locateEntityFile,
  type OfflineStore,
  type Row,
  type SourceFingerprint,
  sha256File,
  type WriteResult,
} from '../offline/index.js'
import { receiptObjects, type UsedObjects } from './objects.js'
import {
  RECEIPT_FORMAT,
  type ReceiptEntities,
  type ReceiptOutput,
  type ReceiptQuery,
  type ReceiptSource,
  type TrainingSetReceipt,
} from './receipt.js'

/** Everything a receipt records about a retrieval that is known before it runs. */
export interface ReceiptInputs {
  readonly project: string
  /** The feature repo's directory: paths in the receipt are relative to it. */
  readonly repoPath: string
  /** The registry as the retrieval read it. */
  readonly registry: RegistryProto
  readonly offline: OfflineStore
  readonly query: ReceiptQuery
  /** The entity input as given (paths relative to the working directory), or undefined for a range. */
  readonly entities: EntityInput | undefined
  readonly used: UsedObjects
  /** The batch sources the join reads. */
  readonly sources: readonly BatchSource[]
  /** The output's columns, in order. */
  readonly columns: readonly string[]
}

/** Where a training set is written: a file (absolute path) or a table of the offline store's database. */
export type OutputTarget =
  | { readonly kind: 'parquet' | 'csv'; readonly path: string }
  | {
      readonly kind: 'table'
      readonly table: string
      /** Drop the table once digested (a rebuild's scratch table). */
      readonly drop?: boolean
    }

/**
 * Writes a training set with `write` and returns its receipt: the sources' fingerprints and the entity
 * input's hash are taken just before `write` reads them, the output's hash right after it wrote. A
 * source the offline store cannot fingerprint, or a table it cannot digest, is UNSUPPORTED before
 * anything is written.
 */
export async function recordTrainingSet(
  inputs: ReceiptInputs,
  target: OutputTarget,
  write: () => Promise<WriteResult>,
  opts: Abortable = {},
): Promise<{ rows: number; receipt: TrainingSetReceipt }> {
  const offline = inputs.offline
  if (target.kind === 'table' && offline.digestTable === undefined) {
    throw new LarderError(
      'UNSUPPORTED',
      `the ${offline.type} offline store cannot digest table ${target.table} for a receipt`,
      {
        hint: 'write the training set to a file to get a receipt',
      },
    )
  }
  const sources = await fingerprintSources(offline, inputs.sources, opts)
  const entities = await entityHash(inputs.entities, inputs.repoPath, opts)
  const { rows } = await write()
  const output = await outputRecord(inputs, target, rows, opts)
  const receipt: TrainingSetReceipt = {
    format: RECEIPT_FORMAT,
    larderVersion: larderVersion(),
    createdAt: formatMicros(nowMicros()),
    project: inputs.project,
    offlineStore: offline.type,
    query: inputs.query,
    entities: { ...entities, rows } as ReceiptEntities,
    objects: receiptObjects(inputs.registry, inputs.project, inputs.used),
    sources,
    output,
  }
  return { rows, receipt }
}

/** Each distinct source (by name) with what it holds now, in name order. */
export async function fingerprintSources(
  offline: OfflineStore,
  sources: readonly BatchSource[],
  opts: Abortable = {},
): Promise<ReceiptSource[]> {
  const byName = new Map(sources.map((s) => [s.name, s] as const))
  const out: ReceiptSource[] = []
  for (const name of [...byName.keys()].sort()) {
    if (offline.fingerprintSource === undefined) {
      throw new LarderError(
        'UNSUPPORTED',
        `the ${offline.type} offline store cannot fingerprint source "${name}" for a receipt`,
        {
          hint: 'write the training set without a receipt, or use an offline store that ships with Larder',
        },
      )
    }
    const print: SourceFingerprint = await offline.fingerprintSource(byName.get(name)!, opts)
    out.push({ name, ...print })
  }
  return out
}

/** The entity part of a receipt without its row count (known once the set is written). */
export type EntityHash = DistributiveOmit<ReceiptEntities, 'rows'>
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

/**
 * The entity input's hash: a file's bytes (a directory: its files' paths and hashes, in order), rows in
 * memory by a canonical JSON line per row, an Arrow table by its IPC stream, a query by its text. A glob
 * has none (weak). File paths are recorded relative to `repoPath`.
 */
export async function entityHash(
  input: EntityInput | undefined,
  repoPath: string,
  opts: Abortable = {},
): Promise<EntityHash> {
  if (input === undefined) return { kind: 'range', weak: false }
  const sql = entityQueryText(input)
  if (sql !== undefined) return { kind: 'sql', sql, sha256: sha256Text(sql), weak: true }
  if (typeof input === 'string') {
    const loc = locateEntityFile(input)
    const path = repoRelative(repoPath, loc.path)
    if (loc.kind === 'glob') return { kind: 'file', path, sha256: null, weak: true }
    if (loc.kind === 'file')
      return { kind: 'file', path, sha256: (await sha256File(loc.path, opts)).sha256, weak: false }
    const ext = `.${loc.format}`
    const files = readdirSync(loc.path, { recursive: true })
      .map(String)
      .filter((f) => f.endsWith(ext))
      .sort()
    const hash = createHash('sha256')
    for (const f of files)
      hash.update(`${f.split(sep).join('/')} ${(await sha256File(join(loc.path, f), opts)).sha256}\n`)
    return { kind: 'file', path, sha256: hash.digest('hex'), weak: false }
  }
  if (isArrowTable(input)) {
    return { kind: 'arrow', sha256: sha256Bytes(tableToIPC(input as Table, 'stream')), weak: false }
  }
  const hash = createHash('sha256')
  for (const row of input as readonly Row[]) hash.update(`${JSON.stringify(canonical(row))}\n`)
  return { kind: 'rows', sha256: hash.digest('hex'), weak: false }
}

/** A path relative to the repo with `/` separators (absolute when on another drive). */
export function repoRelative(repoPath: string, path: string): string {
  const rel = relative(repoPath, path)
  return isAbsolute(rel) ? rel : rel.split(sep).join('/')
}

/** A receipt path (relative to the repo) as an absolute path. */
export function fromRepo(repoPath: string, path: string): string {
  return resolve(repoPath, path)
}

async function outputRecord(
  inputs: ReceiptInputs,
  target: OutputTarget,
  rows: number,
  opts: Abortable,
): Promise<ReceiptOutput> {
  if (target.kind === 'table') {
    const digest = await inputs.offline.digestTable!(target.table, { ...opts, drop: target.drop ?? false })
    return { kind: 'table', table: target.table, rows, columns: [...digest.columns], sha256: digest.sha256 }
  }
  return {
    kind: target.kind,
    path: repoRelative(inputs.repoPath, target.path),
    rows,
    columns: [...inputs.columns],
    sha256: (await sha256File(target.path, opts)).sha256,
  }
}

/** A JSON-able copy with object keys sorted, dates as RFC 3339, bigints and bytes tagged. */
function canonical(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString()
  if (typeof value === 'bigint') return { $bigint: value.toString() }
  if (value instanceof Uint8Array) return { $bytes: Buffer.from(value).toString('base64') }
  if (Array.isArray(value)) return value.map(canonical)
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    )
  }
  return value === undefined ? null : value
}

function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

function sha256Bytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

let version: string | undefined

/** The version in the package's own package.json. */
export function larderVersion(): string {
  version ??= (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version
  return version
}
