import { randomUUID } from 'node:crypto'
import { create, equals, toBinary } from '@bufbuild/protobuf'
import { type Client, Code, ConnectError, createClient } from '@connectrpc/connect'
import { createGrpcTransport } from '@connectrpc/connect-node'
import {
  type Abortable,
  isLarderError,
  LarderError,
  type LarderErrorCode,
  type TokenProvider,
  throwIfAborted,
} from '../../core/index.js'
import type { DataSource } from '../../gen/feast/core/DataSource_pb.js'
import type { Entity } from '../../gen/feast/core/Entity_pb.js'
import type { FeatureService } from '../../gen/feast/core/FeatureService_pb.js'
import {
  type FeatureView,
  FeatureViewSpecSchema,
  type MaterializationInterval,
} from '../../gen/feast/core/FeatureView_pb.js'
import type { OnDemandFeatureView } from '../../gen/feast/core/OnDemandFeatureView_pb.js'
import type { Permission } from '../../gen/feast/core/Permission_pb.js'
import type { Project } from '../../gen/feast/core/Project_pb.js'
import { type Registry as RegistryProto, RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import type { SavedDataset } from '../../gen/feast/core/SavedDataset_pb.js'
import type { StreamFeatureView } from '../../gen/feast/core/StreamFeatureView_pb.js'
import type { ValidationReference } from '../../gen/feast/core/ValidationProfile_pb.js'
import { RegistryServer } from '../../gen/feast/registry/RegistryServer_pb.js'
import { Jobs } from '../../gen/larder/registry/Jobs_pb.js'
import { MaterializationRuns } from '../../gen/larder/registry/MaterializationRuns_pb.js'
import type {
  ListMaterializationRunsOptions,
  MaterializationRun,
  RecordMaterializationRunOptions,
} from '../materialization-runs.js'
import { microsFromTimestamp } from '../proto-mapping.js'
import { type LoadOptions, type Registry, RegistryState } from '../registry.js'
import { currentActor, describeObject, type ObjectChange, objectChanges } from '../registry-objects.js'
import { RemoteJobStore } from './remote-jobs.js'
import { objectHash, REMOTE_HEADERS } from './remote-protocol.js'
import { runFromMessage, runToMessage } from './run-messages.js'

export interface RemoteRegistryOptions {
  /** The registry server: `host:port` (Feast's form) or `http://host:port`; `https://` speaks TLS. */
  readonly address: string
  /**
   * How long `load()` may answer from memory without asking the server; past it (and always with 0)
   * a load asks the server whether the registry changed and downloads it only when it did.
   */
  readonly cacheTtlSeconds: number
  /** How long one call may take before it fails with BACKEND_UNAVAILABLE (default 30 s). */
  readonly timeoutMs?: number
  /**
   * Gives the bearer token sent as `authorization` metadata with every call, asked again for each
   * call so a rotated token is used at once (from the repo's `auth:` block: `clientTokenProvider`).
   * Without it, calls carry no token, as a Feast client with `no_auth`.
   */
  readonly tokenProvider?: TokenProvider
}

type Call = (headers: Headers) => Promise<unknown>

/**
 * Feast's remote registry: a client of the `feast.registry.RegistryServer` gRPC service (`larder
 * serve-registry`, or Feast's `feast serve_registry`). `load` reads the whole registry with `Proto`;
 * `commit` sends each changed object with Feast's Apply/Delete calls (`ApplyMaterialization` for new
 * materialization intervals, `UpdateInfra` for infra) marked `commit: false`, then one `Commit`, so
 * the server writes all of them or none. Each call carries the hash of the object as this client read
 * it and the `Commit` the version read, so Larder's server applies the same per-object optimistic
 * check as the registry behind it: a stale base fails with CONFLICT naming the object.
 *
 * @example const registry = RemoteRegistry.open({ address: 'registry.internal:6570', cacheTtlSeconds: 60 })
 */
export class RemoteRegistry implements Registry {
  /** The server's URL, for messages. */
  readonly url: string
  /** Jobs on the server, through Larder's `larder.registry.Jobs` service (see {@link RemoteJobStore}). */
  readonly jobs: RemoteJobStore
  readonly #client: Client<typeof RegistryServer>
  readonly #runs: Client<typeof MaterializationRuns>
  readonly #ttlMs: number
  readonly #timeoutMs: number
  readonly #tokenProvider: TokenProvider | undefined
  #cached: { state: RegistryState; checkedAt: number } | undefined

  private constructor(url: string, options: RemoteRegistryOptions) {
    this.url = url
    this.#tokenProvider = options.tokenProvider
    this.#ttlMs = options.cacheTtlSeconds * 1000
    this.#timeoutMs = options.timeoutMs ?? 30_000
    const transport = createGrpcTransport({ baseUrl: url })
    this.#client = createClient(RegistryServer, transport)
    this.#runs = createClient(MaterializationRuns, transport)
    this.jobs = new RemoteJobStore(
      createClient(Jobs, transport),
      (what, call) => this.#call(what, call),
      this.#timeoutMs,
    )
  }

  /** A client of the server at `options.address`; connects on the first call. INVALID_CONFIG for a malformed address. */
  static open(options: RemoteRegistryOptions): RemoteRegistry {
    return new RemoteRegistry(remoteUrl(options.address), options)
  }

  async load(options: LoadOptions = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    const cached = this.#cached
    if (cached && options.allowCache !== false) {
      if (!options.revalidate && this.#ttlMs > 0 && Date.now() - cached.checkedAt < this.#ttlMs)
        return cached.state
      let unchanged = false
      const proto = await this.#call('read the registry', (headers) => {
        headers.set(REMOTE_HEADERS.knownVersion, cached.state.version)
        return this.#client.proto(
          {},
          {
            headers,
            signal: options.signal,
            timeoutMs: this.#timeoutMs,
            onHeader: (h) => {
              unchanged = h.get(REMOTE_HEADERS.unchanged) === 'true'
            },
          },
        )
      })
      if (unchanged) {
        cached.checkedAt = Date.now()
        return cached.state
      }
      return this.#remember(proto as RegistryProto)
    }
    const proto = await this.#call('read the registry', (headers) =>
      this.#client.proto({}, { headers, signal: options.signal, timeoutMs: this.#timeoutMs }),
    )
    return this.#remember(proto as RegistryProto)
  }

  #remember(proto: RegistryProto): RegistryState {
    const state = new RegistryState(proto.versionId, proto)
    this.#cached = { state, checkedAt: Date.now() }
    return state
  }

  async commit(base: RegistryState, next: RegistryProto, options: Abortable = {}): Promise<RegistryState> {
    throwIfAborted(options.signal)
    const calls = this.#plan(base.proto, next)
    if (calls.length === 0) return base
    const transaction = randomUUID()
    const signal = options.signal
    for (const { what, call } of calls) {
      await this.#call(what, (headers) => {
        headers.set(REMOTE_HEADERS.transaction, transaction)
        return call(headers)
      })
    }
    await this.#call('commit', (headers) => {
      headers.set(REMOTE_HEADERS.transaction, transaction)
      headers.set(REMOTE_HEADERS.baseVersion, base.version)
      headers.set(REMOTE_HEADERS.operations, String(calls.length))
      headers.set(REMOTE_HEADERS.actor, encodeURIComponent(currentActor()))
      return this.#client.commit({}, { headers, signal, timeoutMs: this.#timeoutMs })
    })
    return this.load({ allowCache: false, signal })
  }

  /** The calls that turn `base` into `next`, one per changed object, in the order of `objectChanges`. */
  #plan(base: RegistryProto, next: RegistryProto): { what: string; call: Call }[] {
    const c = this.#client
    const opts = (headers: Headers) => ({ headers, timeoutMs: this.#timeoutMs })
    const calls: { what: string; call: Call }[] = []
    const deletedProjects = new Set<string>()
    for (const change of objectChanges(base, next)) {
      const { table, project, name, after } = change
      const what = `${after ? 'apply' : 'delete'} ${describeObject(table, project, name)}`
      const withBase = (send: Call): Call => {
        return (headers) => {
          headers.set(REMOTE_HEADERS.baseHash, objectHash(table.schema, change.before))
          return send(headers)
        }
      }
      const byName = { name, project, commit: false }
      const intervals = table.table === 'feature_views' ? newIntervals(change) : undefined
      if (intervals) {
        for (const i of intervals) {
          calls.push({
            what: `record a materialization interval of ${describeObject(table, project, name)}`,
            call: (h) =>
              c.applyMaterialization(
                {
                  featureView: after as FeatureView,
                  project,
                  startDate: i.startTime,
                  endDate: i.endTime,
                  commit: false,
                },
                opts(h),
              ),
          })
        }
        continue
      }
      let call: Call
      switch (table.table) {
        case 'projects':
          if (!after) deletedProjects.add(name)
          call = after
            ? (h) => c.applyProject({ project: after as Project, commit: false }, opts(h))
            : (h) => c.deleteProject({ name, commit: false }, opts(h))
          break
        case 'entities':
          call = after
            ? (h) => c.applyEntity({ entity: after as Entity, project, commit: false }, opts(h))
            : (h) => c.deleteEntity(byName, opts(h))
          break
        case 'data_sources':
          call = after
            ? (h) => c.applyDataSource({ dataSource: after as DataSource, project, commit: false }, opts(h))
            : (h) => c.deleteDataSource(byName, opts(h))
          break
        case 'feature_views':
        case 'stream_feature_views':
        case 'on_demand_feature_views': {
          const view =
            table.table === 'feature_views'
              ? { case: 'featureView' as const, value: after as FeatureView }
              : table.table === 'stream_feature_views'
                ? { case: 'streamFeatureView' as const, value: after as StreamFeatureView }
                : { case: 'onDemandFeatureView' as const, value: after as OnDemandFeatureView }
          call = after
            ? (h) => c.applyFeatureView({ baseFeatureView: view, project, commit: false }, opts(h))
            : (h) => c.deleteFeatureView(byName, opts(h))
          break
        }
        case 'feature_services':
          call = after
            ? (h) =>
                c.applyFeatureService(
                  { featureService: after as FeatureService, project, commit: false },
                  opts(h),
                )
            : (h) => c.deleteFeatureService(byName, opts(h))
          break
        case 'saved_datasets':
          call = after
            ? (h) =>
                c.applySavedDataset({ savedDataset: after as SavedDataset, project, commit: false }, opts(h))
            : (h) => c.deleteSavedDataset(byName, opts(h))
          break
        case 'validation_references':
          call = after
            ? (h) =>
                c.applyValidationReference(
                  { validationReference: after as ValidationReference, project, commit: false },
                  opts(h),
                )
            : (h) => c.deleteValidationReference(byName, opts(h))
          break
        case 'permissions':
          call = after
            ? (h) => c.applyPermission({ permission: after as Permission, project, commit: false }, opts(h))
            : (h) => c.deletePermission(byName, opts(h))
          break
        default:
          throw new LarderError(
            'UNSUPPORTED',
            `the remote registry ${this.url} cannot ${what}: Feast's RegistryServer has no call for a ${table.kind}`,
            {
              hint: `leave the ${table.kind} unchanged, or write to the registry behind the server directly`,
            },
          )
      }
      calls.push({ what, call: withBase(call) })
    }
    // Feast's RegistryServer forgets a project's metadata with the project; nothing else writes it.
    const kept = new Set(next.projectMetadata.map((m) => m.project))
    for (const m of base.projectMetadata) {
      if (kept.has(m.project) || deletedProjects.has(m.project)) continue
      calls.push({
        what: `delete project "${m.project}"`,
        call: (h) => {
          h.set(REMOTE_HEADERS.baseHash, 'none')
          return c.deleteProject({ name: m.project, commit: false }, opts(h))
        },
      })
    }
    const before = new Map(base.projectMetadata.map((m) => [m.project, m.projectUuid]))
    const added = next.projectMetadata.find((m) => before.get(m.project) !== m.projectUuid)
    if (added) throw this.#unsupported(`set the metadata of project "${added.project}"`)
    if (!sameField(base, next, 'featureViewVersionHistory'))
      throw this.#unsupported('change the feature view version history')
    if (!sameField(base, next, 'infra')) {
      const infra = next.infra
      calls.push({
        what: 'update the infra',
        call: (h) => c.updateInfra({ infra, project: '', commit: false }, opts(h)),
      })
    }
    return calls
  }

  /**
   * Records a run on the server with Larder's `larder.registry.MaterializationRuns` service (a Feast
   * registry server has none: UNSUPPORTED), apart from the registry message, as every registry does.
   */
  async recordMaterializationRun(
    run: MaterializationRun,
    options: RecordMaterializationRunOptions = {},
  ): Promise<void> {
    await this.#call('record a materialization run', (headers) =>
      this.#runs.recordMaterializationRun(
        { run: runToMessage(run), keep: options.keep },
        { headers, signal: options.signal, timeoutMs: this.#timeoutMs },
      ),
    )
  }

  async listMaterializationRuns(
    project: string,
    options: ListMaterializationRunsOptions = {},
  ): Promise<MaterializationRun[]> {
    const response = await this.#call('list materialization runs', (headers) =>
      this.#runs.listMaterializationRuns(
        { project, view: options.view, limit: options.limit },
        { headers, signal: options.signal, timeoutMs: this.#timeoutMs },
      ),
    )
    return response.runs.map(runFromMessage)
  }

  #unsupported(what: string): LarderError {
    return new LarderError(
      'UNSUPPORTED',
      `the remote registry ${this.url} cannot ${what}: Feast's RegistryServer has no call for it`,
      { hint: 'run this command against the registry behind the server (its file or database)' },
    )
  }

  async #call<T>(what: string, call: (headers: Headers) => Promise<T>): Promise<T> {
    try {
      const headers = new Headers()
      if (this.#tokenProvider) headers.set('authorization', `Bearer ${await this.#tokenProvider()}`)
      return await call(headers)
    } catch (e) {
      throw this.#error(what, e)
    }
  }

  #error(what: string, e: unknown): LarderError {
    if (isLarderError(e)) return e
    const err = ConnectError.from(e)
    const code = err.metadata.get(REMOTE_HEADERS.errorCode) as LarderErrorCode | null
    if (code !== null) {
      const hint = err.metadata.get(REMOTE_HEADERS.errorHint)
      const details = err.metadata.get(REMOTE_HEADERS.errorDetails)
      return new LarderError(code, err.rawMessage, {
        hint: hint === null ? undefined : decodeURIComponent(hint),
        details:
          details === null ? undefined : (JSON.parse(decodeURIComponent(details)) as Record<string, unknown>),
        cause: err,
      })
    }
    if (err.code === Code.Canceled) return new LarderError('ABORTED', `${what} was aborted`, { cause: err })
    if (err.code === Code.Unavailable || err.code === Code.DeadlineExceeded || err.code === Code.Unknown) {
      return new LarderError(
        'BACKEND_UNAVAILABLE',
        `the registry server at ${this.url} did not answer (${what}): ${err.rawMessage}`,
        {
          hint: 'check registry.path in feature_store.yaml and that `larder serve-registry` runs there',
          cause: err,
        },
      )
    }
    const mapped: Partial<Record<Code, LarderErrorCode>> = {
      [Code.NotFound]: 'NOT_FOUND',
      [Code.Aborted]: 'CONFLICT',
      [Code.Unimplemented]: 'UNSUPPORTED',
      [Code.InvalidArgument]: 'INVALID_ARGUMENT',
      [Code.AlreadyExists]: 'ALREADY_EXISTS',
      [Code.Unauthenticated]: 'UNAUTHENTICATED',
      [Code.PermissionDenied]: 'PERMISSION_DENIED',
    }
    const larderCode = mapped[err.code] ?? 'INTERNAL'
    return new LarderError(
      larderCode,
      `the registry server at ${this.url} refused to ${what}: ${err.rawMessage}`,
      {
        cause: err,
        hint:
          larderCode === 'UNAUTHENTICATED'
            ? 'the server asks for a token: set auth in feature_store.yaml (e.g. type: oidc) and LARDER_AUTH_TOKEN'
            : 'see the registry server’s log for the cause',
      },
    )
  }

  async close(): Promise<void> {
    this.#cached = undefined
  }
}

/**
 * The URL of a registry server given as Feast's `host:port`, or as `http://host[:port]` /
 * `https://host[:port]`. Throws INVALID_CONFIG naming the value otherwise.
 */
export function remoteUrl(address: string): string {
  const trimmed = address.trim()
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)
  const withScheme = hasScheme ? trimmed : `http://${trimmed}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (cause) {
    throw badAddress(address, cause)
  }
  if (
    (url.protocol !== 'http:' && url.protocol !== 'https:') ||
    url.hostname === '' ||
    (url.port === '' && !hasScheme) ||
    (url.pathname !== '/' && url.pathname !== '')
  ) {
    throw badAddress(address)
  }
  return `${url.protocol}//${url.host}`
}

function badAddress(address: string, cause?: unknown): LarderError {
  return new LarderError(
    'INVALID_CONFIG',
    `registry.path "${address}" is not the address of a registry server`,
    {
      hint: 'with registry_type: remote, set path to host:port (e.g. localhost:6570) or http://host:port',
      details: { path: ['registry', 'path'], value: address },
      cause,
    },
  )
}

/**
 * The intervals a change only appends to a feature view (same spec, same intervals before them, same
 * creation time), or undefined when the change is anything else.
 */
function newIntervals(change: ObjectChange): MaterializationInterval[] | undefined {
  const before = change.before as FeatureView | undefined
  const after = change.after as FeatureView | undefined
  if (!before?.spec || !after?.spec || !equals(FeatureViewSpecSchema, before.spec, after.spec))
    return undefined
  const old = before.meta?.materializationIntervals ?? []
  const now = after.meta?.materializationIntervals ?? []
  if (now.length <= old.length) return undefined
  if (
    microsFromTimestamp(before.meta?.createdTimestamp) !== microsFromTimestamp(after.meta?.createdTimestamp)
  )
    return undefined
  const key = (i: MaterializationInterval) =>
    `${microsFromTimestamp(i.startTime)}-${microsFromTimestamp(i.endTime)}`
  for (let i = 0; i < old.length; i++) if (key(old[i]!) !== key(now[i]!)) return undefined
  const added = now.slice(old.length)
  return added.every((i) => i.startTime && i.endTime) ? added : undefined
}

/** Whether a registry-wide field (infra, version history) has the same bytes in both registries. */
function sameField(
  a: RegistryProto,
  b: RegistryProto,
  field: 'infra' | 'featureViewVersionHistory',
): boolean {
  const bytes = (r: RegistryProto) => toBinary(RegistrySchema, create(RegistrySchema, { [field]: r[field] }))
  return Buffer.from(bytes(a)).equals(Buffer.from(bytes(b)))
}
