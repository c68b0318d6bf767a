import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Abortable, countOf, isLarderError, LarderError } from '../core/index.js'
import type { Registry as RegistryProto } from '../gen/feast/core/Registry_pb.js'
import type { EntityInput, RetrievalJob } from '../offline/index.js'
import { definitionDifferences, findSpec, receiptObject } from './objects.js'
import type { ReceiptEntities, ReceiptObject, ReceiptSource, TrainingSetReceipt } from './receipt.js'
import { entityHash, fromRepo, type OutputTarget, type ReceiptInputs, recordTrainingSet } from './record.js'

/** A historical request in the SDK's terms, as a receipt's query gives it back. */
export interface TrainingSetRequest {
  readonly entities?: EntityInput
  readonly features?: readonly string[]
  readonly featureService?: string
  readonly fullFeatureNames?: boolean
  readonly asOfKnownTime?: boolean
  readonly startDate?: string
  readonly endDate?: string
}

/** A retrieval planned against the registry as it is now, with what its receipt would record. */
export interface PlannedTrainingSet {
  readonly job: RetrievalJob
  readonly inputs: ReceiptInputs
}

/** What reproducing needs from a feature store. */
export interface ReproduceHost {
  readonly project: string
  readonly repoPath: string
  /** Plans the request against the registry read afresh (never from a cache). */
  planTrainingSet(request: TrainingSetRequest, opts: Abortable): Promise<PlannedTrainingSet>
  /** The registry's message, read afresh. */
  registryProto(opts: Abortable): Promise<RegistryProto>
}

export interface ReproduceOptions extends Abortable {
  /**
   * The entity rows, for a receipt whose entities were given in memory (`kind` `rows` or `arrow`): the
   * receipt holds only their hash. Ignored otherwise.
   */
  readonly entities?: EntityInput
}

/** One input (or, with no input changed, the output) that differs from the receipt. */
export interface ReceiptChange {
  /** What changed. `nondeterminism`: every input recorded is the same, the output is not. */
  readonly kind:
    | 'offline store'
    | 'definition'
    | 'source'
    | 'source file'
    | 'entities'
    | 'rebuild'
    | 'nondeterminism'
  /** The object, source or file it is about (empty for `nondeterminism`). */
  readonly name: string
  readonly change: 'added' | 'removed' | 'changed'
  /** One line naming the object, what changed and, where it helps, the values. */
  readonly message: string
  /** For a definition: the fields that differ (see {@link definitionDifferences}). */
  readonly fields?: readonly string[]
}

/** The verdict of {@link reproduceTrainingSet}. */
export interface ReproduceResult {
  /** `identical`: the rebuilt set has the receipt's content hash. Else `changed`. */
  readonly status: 'identical' | 'changed'
  /** The receipt's output, and the rebuilt one (null when the set could not be rebuilt). */
  readonly output: {
    readonly kind: 'parquet' | 'csv' | 'table'
    readonly expected: { readonly sha256: string; readonly rows: number }
    readonly actual: { readonly sha256: string; readonly rows: number } | null
  }
  /**
   * The inputs that differ from the receipt's. With status `identical` they changed without changing
   * the rows (e.g. a row appended after every entity timestamp).
   */
  readonly changes: readonly ReceiptChange[]
  /** What to bear in mind: weak fingerprints, another Larder version. */
  readonly notes: readonly string[]
  /** The rebuilt set's receipt (null when it could not be rebuilt). */
  readonly rebuilt: TrainingSetReceipt | null
}

/**
 * Rebuilds the training set a receipt describes, into a temporary file (removed afterwards) or a scratch
 * table (dropped), from the repo's registry and sources as they are now, and compares: `identical` when
 * the content hash matches (a file's bytes; a table's rows in byte order), else `changed` with every
 * input that differs: registry objects (with the fields of a definition that differ), source files
 * added, removed or changed, a table's row count or newest event, the entity rows. When the output
 * differs and no recorded input does, the change is `nondeterminism`. When the set cannot be rebuilt
 * because an input changed (a view or the entity file removed), the result is `changed` naming it;
 * any other failure throws.
 *
 * @example const { status, changes } = await reproduceTrainingSet(host, readReceiptFile('train.parquet.receipt.json'))
 */
export async function reproduceTrainingSet(
  host: ReproduceHost,
  receipt: TrainingSetReceipt,
  options: ReproduceOptions = {},
): Promise<ReproduceResult> {
  if (receipt.project !== host.project) {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `the receipt is of project "${receipt.project}", this repo is project "${host.project}"`,
      { hint: `run in the feature repo of project "${receipt.project}" (larder -c <repo> reproduce ...)` },
    )
  }
  const request = requestOf(receipt, host.repoPath, options.entities)
  const opts = { signal: options.signal }
  let failure: unknown
  try {
    const planned = await host.planTrainingSet(request, opts)
    const rebuilt = await rebuild(planned, receipt, opts)
    return compare(receipt, rebuilt)
  } catch (error) {
    if (options.signal?.aborted || (isLarderError(error) && error.code === 'ABORTED')) throw error
    failure = error
  }
  const changes = await changesWithoutRebuild(host, receipt, request, opts)
  if (changes.length === 0) throw failure
  const reason = failure instanceof Error ? failure.message : String(failure)
  return {
    status: 'changed',
    output: { kind: receipt.output.kind, expected: expectedOf(receipt), actual: null },
    changes: [
      ...changes,
      { kind: 'rebuild', name: '', change: 'changed', message: `the set cannot be rebuilt: ${reason}` },
    ],
    notes: notesOf(receipt, undefined),
    rebuilt: null,
  }
}

/** The receipt's query as a request; entity paths resolve against the repo. */
function requestOf(
  receipt: TrainingSetReceipt,
  repoPath: string,
  given: EntityInput | undefined,
): TrainingSetRequest {
  const q = receipt.query
  const base: TrainingSetRequest = {
    ...(q.features === null ? {} : { features: q.features }),
    ...(q.featureService === null ? {} : { featureService: q.featureService }),
    fullFeatureNames: q.fullFeatureNames,
    asOfKnownTime: q.asOfKnownTime,
    ...(q.startDate === null ? {} : { startDate: q.startDate }),
    ...(q.endDate === null ? {} : { endDate: q.endDate }),
  }
  const e = receipt.entities
  switch (e.kind) {
    case 'range':
      return base
    case 'file':
      return { ...base, entities: fromRepo(repoPath, e.path) }
    case 'sql':
      return { ...base, entities: { sql: e.sql } }
    case 'rows':
    case 'arrow':
      if (given === undefined) {
        throw new LarderError(
          'INVALID_ARGUMENT',
          `the receipt's ${countOf(e.rows, 'entity row')} were given in memory (${e.kind === 'arrow' ? 'an Arrow table' : 'an array of rows'}); only their hash is recorded`,
          {
            hint: 'pass the same rows: store.reproduce(receipt, { entities }); write entity rows to a file to reproduce from the CLI',
          },
        )
      }
      return { ...base, entities: given }
  }
}

/** Writes the planned set where the receipt's kind of output goes, in a temporary place, with its receipt. */
async function rebuild(
  planned: PlannedTrainingSet,
  receipt: TrainingSetReceipt,
  opts: Abortable,
): Promise<TrainingSetReceipt> {
  const kind = receipt.output.kind
  const job = planned.job
  if (kind === 'table') {
    if (job.toTable === undefined) {
      throw new LarderError(
        'UNSUPPORTED',
        `the receipt's set is table ${receipt.output.table}, and the ${planned.inputs.offline.type} offline store cannot write tables`,
        { hint: `reproduce it in a repo whose offline store is the receipt's (${receipt.offlineStore})` },
      )
    }
    const table = scratchTable(receipt.output.table ?? '')
    const target: OutputTarget = { kind: 'table', table, drop: true }
    return (await recordTrainingSet(planned.inputs, target, () => job.toTable!(table, opts), opts)).receipt
  }
  const dir = mkdtempSync(join(tmpdir(), 'larder-reproduce-'))
  try {
    const path = join(dir, `rebuilt.${kind}`)
    const write = () => (kind === 'csv' ? job.toCsv(path, opts) : job.toParquet(path, opts))
    return (await recordTrainingSet(planned.inputs, { kind, path }, write, opts)).receipt
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * A new table name beside the receipt's table (in its schema when it names one): the rebuilt rows are
 * written there, digested and dropped.
 */
function scratchTable(table: string): string {
  const name = `larder_reproduce_${randomBytes(4).toString('hex')}`
  const dot = table.lastIndexOf('.')
  return dot > 0 && !table.includes('"') ? `${table.slice(0, dot)}.${name}` : name
}

function expectedOf(receipt: TrainingSetReceipt) {
  return { sha256: receipt.output.sha256, rows: receipt.output.rows }
}

/** Compares a receipt with the receipt of its rebuild. */
function compare(before: TrainingSetReceipt, after: TrainingSetReceipt): ReproduceResult {
  const changes: ReceiptChange[] = [
    ...(before.offlineStore === after.offlineStore
      ? []
      : [
          {
            kind: 'offline store' as const,
            name: after.offlineStore,
            change: 'changed' as const,
            message: `offline store ${before.offlineStore} -> ${after.offlineStore} (engines break ties between equal rows differently)`,
          },
        ]),
    ...objectChanges(before.objects, after.objects),
    ...sourceChanges(before.sources, after.sources),
    ...entityChanges(before.entities, after.entities),
  ]
  const identical = before.output.sha256 === after.output.sha256
  if (!identical && changes.length === 0) {
    changes.push({
      kind: 'nondeterminism',
      name: '',
      change: 'changed',
      message:
        'the output differs although every recorded input is identical: the retrieval is not deterministic' +
        (before.sources.some((s) => s.weak) || before.entities.weak
          ? ', or a weakly fingerprinted input (a table, an entity query) changed unseen'
          : ''),
    })
  }
  return {
    status: identical ? 'identical' : 'changed',
    output: {
      kind: before.output.kind,
      expected: expectedOf(before),
      actual: { sha256: after.output.sha256, rows: after.output.rows },
    },
    changes,
    notes: notesOf(before, after),
    rebuilt: after,
  }
}

function notesOf(before: TrainingSetReceipt, after: TrainingSetReceipt | undefined): string[] {
  const notes: string[] = []
  if (after && after.larderVersion !== before.larderVersion) {
    notes.push(`written by Larder ${before.larderVersion}, rebuilt by ${after.larderVersion}`)
  }
  const weak = before.sources.filter((s) => s.weak).map((s) => s.name)
  if (weak.length > 0) {
    notes.push(
      `${weak.length === 1 ? 'source' : 'sources'} ${weak.join(', ')}: fingerprinted by row count and newest event only; an update in place does not show`,
    )
  }
  if (before.entities.kind === 'sql') {
    notes.push('entity query: its text and row count are recorded, not its rows')
  }
  return notes
}

const objectKey = (o: { kind: string; name: string }) => `${o.kind}\0${o.name}`

/** Registry objects read before and not now, now and not before, or with another definition. */
function objectChanges(before: readonly ReceiptObject[], after: readonly ReceiptObject[]): ReceiptChange[] {
  const now = new Map(after.map((o) => [objectKey(o), o] as const))
  const then = new Map(before.map((o) => [objectKey(o), o] as const))
  const changes: ReceiptChange[] = []
  for (const o of before) {
    const current = now.get(objectKey(o))
    if (current === undefined) {
      changes.push({
        kind: 'definition',
        name: o.name,
        change: 'removed',
        message: `${o.kind} "${o.name}" is no longer read (removed from the registry or from the query's views)`,
      })
    } else if (current.sha256 !== o.sha256) {
      changes.push(definitionChange(o, current))
    }
  }
  for (const o of after) {
    if (!then.has(objectKey(o))) {
      changes.push({
        kind: 'definition',
        name: o.name,
        change: 'added',
        message: `${o.kind} "${o.name}" is read now and was not before`,
      })
    }
  }
  return changes
}

function definitionChange(before: ReceiptObject, after: ReceiptObject): ReceiptChange {
  const fields = definitionDifferences(before.definition, after.definition)
  return {
    kind: 'definition',
    name: before.name,
    change: 'changed',
    message: `${before.kind} "${before.name}": definition changed${fields.length > 0 ? ` (${fields.join('; ')})` : ''}`,
    fields,
  }
}

/** Sources added or removed, files of a source added, removed or changed, a table's count or newest event. */
function sourceChanges(before: readonly ReceiptSource[], after: readonly ReceiptSource[]): ReceiptChange[] {
  const now = new Map(after.map((s) => [s.name, s] as const))
  const changes: ReceiptChange[] = []
  for (const s of before) {
    const current = now.get(s.name)
    if (current === undefined) {
      changes.push({
        kind: 'source',
        name: s.name,
        change: 'removed',
        message: `source "${s.name}" is no longer read`,
      })
    } else if (s.kind === 'files' && current.kind === 'files') {
      const old = new Map(s.files.map((f) => [f.path, f] as const))
      const fresh = new Map(current.files.map((f) => [f.path, f] as const))
      const file = (path: string, change: ReceiptChange['change'], detail: string): ReceiptChange => ({
        kind: 'source file',
        name: path,
        change,
        message: `source "${s.name}": file ${path} ${detail}`,
      })
      for (const f of s.files) {
        const g = fresh.get(f.path)
        if (g === undefined) changes.push(file(f.path, 'removed', 'was removed'))
        else if (g.sha256 !== f.sha256) {
          changes.push(file(f.path, 'changed', `changed (${f.bytes} -> ${countOf(g.bytes, 'byte')})`))
        }
      }
      for (const g of current.files) if (!old.has(g.path)) changes.push(file(g.path, 'added', 'was added'))
    } else if (s.kind === 'table' && current.kind === 'table') {
      const parts = [
        ...(s.relation === current.relation ? [] : [`relation ${s.relation} -> ${current.relation}`]),
        ...(s.rows === current.rows ? [] : [`${s.rows} -> ${countOf(current.rows, 'row')}`]),
        ...(s.maxTimestamp === current.maxTimestamp
          ? []
          : [`newest event ${s.maxTimestamp ?? '(none)'} -> ${current.maxTimestamp ?? '(none)'}`]),
      ]
      if (parts.length > 0) {
        changes.push({
          kind: 'source',
          name: s.name,
          change: 'changed',
          message: `source "${s.name}" (${current.relation.length > 60 ? 'query' : current.relation}): ${parts.join(', ')}`,
        })
      }
    } else {
      changes.push({
        kind: 'source',
        name: s.name,
        change: 'changed',
        message: `source "${s.name}" was ${s.kind === 'files' ? 'files' : 'a table'}, now ${current.kind === 'files' ? 'files' : 'a table'}`,
      })
    }
  }
  for (const s of after) {
    if (!before.some((b) => b.name === s.name)) {
      changes.push({
        kind: 'source',
        name: s.name,
        change: 'added',
        message: `source "${s.name}" is read now and was not before`,
      })
    }
  }
  return changes
}

/** `+2`, `-1`: the signed difference of two counts. */
const signed = (n: number) => (n > 0 ? `+${n}` : String(n))

/** The entity input's hash or row count, where they differ. */
function entityChanges(before: ReceiptEntities, after: ReceiptEntities): ReceiptChange[] {
  const rows =
    before.rows === after.rows
      ? 'same row count'
      : `${before.rows} -> ${countOf(after.rows, 'row')}, ${signed(after.rows - before.rows)}`
  const changed = (name: string, message: string): ReceiptChange[] => [
    { kind: 'entities', name, change: 'changed', message },
  ]
  switch (before.kind) {
    case 'file': {
      const hash = after.kind === 'file' ? after.sha256 : null
      if (before.sha256 !== null && hash === before.sha256) return []
      if (before.sha256 === null && before.rows === after.rows) return []
      return changed(before.path, `entity file ${before.path} changed (${rows})`)
    }
    case 'rows':
    case 'arrow':
      return after.kind === before.kind && 'sha256' in after && after.sha256 === before.sha256
        ? []
        : changed('', `the entity rows given differ from the receipt's (${rows})`)
    case 'sql':
      return before.rows === after.rows ? [] : changed('', `the entity query returns other rows (${rows})`)
    case 'range':
      return []
  }
}

/**
 * What can be compared when the set cannot be rebuilt: registry objects against the registry now, and
 * the entity input against its hash (a missing entity file is `removed`).
 */
async function changesWithoutRebuild(
  host: ReproduceHost,
  receipt: TrainingSetReceipt,
  request: TrainingSetRequest,
  opts: Abortable,
): Promise<ReceiptChange[]> {
  const proto = await host.registryProto(opts)
  const changes: ReceiptChange[] = []
  for (const o of receipt.objects) {
    const spec = findSpec(proto, receipt.project, o.kind, o.name)
    if (spec === undefined) {
      changes.push({
        kind: 'definition',
        name: o.name,
        change: 'removed',
        message: `${o.kind} "${o.name}" is no longer in the registry`,
      })
      continue
    }
    const current = receiptObject(o.kind, o.name, spec)
    if (current.sha256 !== o.sha256) changes.push(definitionChange(o, current))
  }
  const e = receipt.entities
  if (e.kind === 'file' && typeof request.entities === 'string') {
    if (!existsSync(request.entities)) {
      changes.push({
        kind: 'entities',
        name: e.path,
        change: 'removed',
        message: `entity file ${e.path} was removed`,
      })
    } else if (e.sha256 !== null) {
      const now = await entityHash(request.entities, host.repoPath, opts)
      if ('sha256' in now && now.sha256 !== e.sha256) {
        changes.push({
          kind: 'entities',
          name: e.path,
          change: 'changed',
          message: `entity file ${e.path} changed`,
        })
      }
    }
  }
  return changes
}
