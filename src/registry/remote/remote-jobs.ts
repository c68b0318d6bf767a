import type { Client } from '@connectrpc/connect'
import type { Abortable } from '../../core/index.js'
import type { Jobs } from '../../gen/larder/registry/Jobs_pb.js'
import {
  checkJob,
  checkJobPatch,
  checkLogLine,
  type JobLogLine,
  type JobPatch,
  type JobRecord,
  type JobStore,
  jobLogsLimit,
  jobsLimit,
  type ListJobsOptions,
} from '../jobs.js'
import {
  jobFromMessage,
  jobToMessage,
  logLineFromMessage,
  logLineToMessage,
  patchToMessage,
} from './job-messages.js'

/** Makes one call to the registry server, turning its failure into a LarderError (the remote registry's). */
export type RemoteCall = <T>(what: string, call: (headers: Headers) => Promise<T>) => Promise<T>

/** The largest limit an `int32` carries; a larger one lists the same (no store holds that many). */
const INT32_MAX = 2 ** 31 - 1

/**
 * The remote registry's jobs: Larder's `larder.registry.Jobs` service on the registry server, which
 * applies each call to the jobs of the registry it serves (a Feast registry server has none:
 * UNSUPPORTED). The server's errors keep their LarderError code, hint and details. Records, patches,
 * log lines and limits are checked here before they are sent, so what cannot travel fails as
 * INVALID_ARGUMENT without a call.
 */
export class RemoteJobStore implements JobStore {
  readonly #client: Client<typeof Jobs>
  readonly #call: RemoteCall
  readonly #timeoutMs: number

  constructor(client: Client<typeof Jobs>, call: RemoteCall, timeoutMs: number) {
    this.#client = client
    this.#call = call
    this.#timeoutMs = timeoutMs
  }

  async create(job: JobRecord, options: Abortable = {}): Promise<void> {
    const stored = checkJob(job)
    await this.#call(`create job "${job.id}"`, (headers) =>
      this.#client.create({ job: jobToMessage(stored) }, this.#options(headers, options)),
    )
  }

  async update(project: string, id: string, patch: JobPatch, options: Abortable = {}): Promise<JobRecord> {
    checkJobPatch(patch)
    const job = await this.#call(`update job "${id}"`, (headers) =>
      this.#client.update({ project, id, patch: patchToMessage(patch) }, this.#options(headers, options)),
    )
    return jobFromMessage(job)
  }

  async requestCancel(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    const job = await this.#call(`cancel job "${id}"`, (headers) =>
      this.#client.requestCancel({ project, id }, this.#options(headers, options)),
    )
    return jobFromMessage(job)
  }

  async get(project: string, id: string, options: Abortable = {}): Promise<JobRecord> {
    const job = await this.#call(`read job "${id}"`, (headers) =>
      this.#client.get({ project, id }, this.#options(headers, options)),
    )
    return jobFromMessage(job)
  }

  async list(project: string, options: ListJobsOptions = {}): Promise<JobRecord[]> {
    const limit = Math.min(jobsLimit(options), INT32_MAX)
    const response = await this.#call('list jobs', (headers) =>
      this.#client.list(
        {
          project,
          status: options.status === undefined ? undefined : { states: [...options.status] },
          limit,
        },
        this.#options(headers, options),
      ),
    )
    return response.jobs.map(jobFromMessage)
  }

  async appendLogs(
    project: string,
    id: string,
    lines: readonly JobLogLine[],
    options: Abortable = {},
  ): Promise<void> {
    const checked = lines.map(checkLogLine)
    await this.#call(`append to the log of job "${id}"`, (headers) =>
      this.#client.appendLogs(
        { project, id, lines: checked.map(logLineToMessage) },
        this.#options(headers, options),
      ),
    )
  }

  async logs(
    project: string,
    id: string,
    options: Abortable & { limit?: number } = {},
  ): Promise<JobLogLine[]> {
    const limit = Math.min(jobLogsLimit(options), INT32_MAX)
    const response = await this.#call(`read the log of job "${id}"`, (headers) =>
      this.#client.logs({ project, id, limit }, this.#options(headers, options)),
    )
    return response.lines.map(logLineFromMessage)
  }

  #options(headers: Headers, options: Abortable) {
    return { headers, signal: options.signal, timeoutMs: this.#timeoutMs }
  }
}
