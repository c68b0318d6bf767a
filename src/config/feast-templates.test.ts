import { cpSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeAll, describe, expect, it } from 'vitest'
import { larder } from '../cli/__fixtures__/run-larder.js'
import { validateOnlineStoreConfig } from '../online/loader.js'
import { loadRepoConfig } from './repo-config.js'

/*
 * `feature_store.yaml` as Feast's templates write it (sdk/python/feast/templates/<name>/feature_repo),
 * comments included. `feast init <name>` replaces `my_project` with the project name; the minimal
 * template's `/path/to/` is left for the user to fill, done here with the repo's data directory.
 */
const LOCAL = `project: my_project
# By default, the registry is a file (but can be turned into a more scalable SQL-backed registry)
registry: data/registry.db
# The provider primarily specifies default offline / online stores & storing the registry in a given cloud
provider: local
online_store:
    type: sqlite
    path: data/online_store.db
entity_key_serialization_version: 3
# By default, no_auth for authentication and authorization, other possible values kubernetes and oidc. Refer the documentation for more details.
auth:
    type: no_auth
`

const MINIMAL = `project: my_project
registry: /path/to/registry.db
provider: local
online_store:
    path: /path/to/online_store.db
entity_key_serialization_version: 3`

const PYTORCH_NLP = `project: my_project
provider: local
registry: data/registry.db
online_store:
    type: sqlite
    path: data/online_store.db
offline_store:
    type: file
entity_key_serialization_version: 3`

/* The Redis examples of Feast's docs (docs/reference/online-stores/redis.md). */
const REDIS_DOCS = `project: my_project
registry: data/registry.db
provider: local
online_store:
  type: redis
  key_ttl_seconds: 604800
  connection_string: "localhost:6379"
`

const REDIS_CLUSTER_DOCS = `project: my_project
registry: data/registry.db
provider: local
online_store:
  type: redis
  redis_type: redis_cluster
  connection_string: "redis1:6379,redis2:6379,ssl=true,password=my_password"
`

/* The postgres template after \`feast init -t postgres\` answered its prompts (DB_HOST … DB_PASSWORD). */
const POSTGRES = `project: my_project
provider: local
registry:
    registry_type: sql
    path: postgresql://postgres:mysecretpassword@127.0.0.1:55001/feast
    cache_ttl_seconds: 60
    sqlalchemy_config_kwargs:
        echo: false
        pool_pre_ping: true
online_store:
    type: postgres
    host: localhost
    port: 5432
    database: postgres
    db_schema: public
    user: feast
    password: feast
offline_store:
    type: postgres
    host: localhost
    port: 5432
    database: postgres
    db_schema: public
    user: feast
    password: feast
entity_key_serialization_version: 3
`

let seed: string

/** A copy of a `larder init` repo (definitions and sample data) with `yaml` as its config. */
function repoWith(yaml: string, project: string): string {
  const repo = join(mkdtempSync(join(tmpdir(), 'larder-feast-yaml-')), project)
  cpSync(seed, repo, { recursive: true })
  const text = yaml.replaceAll('my_project', project).replaceAll('/path/to/', `${join(repo, 'data')}/`)
  writeFileSync(join(repo, 'feature_store.yaml'), text)
  return repo
}

beforeAll(async () => {
  seed = join(mkdtempSync(join(tmpdir(), 'larder-feast-seed-')), 'seed')
  expect((await larder('init', seed)).code).toBe(0)
}, 60_000)

describe("Feast's own feature_store.yaml files", () => {
  it.each([
    ['local template', LOCAL],
    ['minimal template', MINIMAL],
    ['pytorch_nlp template', PYTORCH_NLP],
    ['Redis docs example', REDIS_DOCS],
    ['Redis Cluster docs example', REDIS_CLUSTER_DOCS],
  ])('%s loads and plans without warnings or connections', async (_name, yaml) => {
    const repo = repoWith(yaml, 'feast_repo')
    const plan = await larder('-c', repo, 'plan')
    expect(plan.stderr).toBe('')
    expect(plan.code).toBe(0)
    expect(plan.stdout).toContain('Plan for project "feast_repo"')
    expect(plan.stdout).toContain('+ create feature view driver_hourly_stats')
  })

  it('postgres template loads; plan stops only at reaching its SQL registry database', async () => {
    const repo = repoWith(POSTGRES, 'feast_repo')
    const config = loadRepoConfig(repo)
    expect(config.registry.registryType).toBe('sql')
    expect(await validateOnlineStoreConfig(config)).toMatchObject({ host: 'localhost', db_schema: 'public' })
    const plan = await larder('-c', repo, 'plan')
    expect(plan.code).toBe(1)
    expect(plan.stderr).toContain('127.0.0.1:55001')
    expect(plan.stderr).not.toContain('mysecretpassword')
  })
})

describe('Feast keys Larder does not act on', () => {
  it('load with one warning line per key, printed once', async () => {
    const repo = repoWith(
      `${LOCAL}
flags:
    alpha_features: true
batch_engine:
    type: spark.engine
feature_server:
    type: local
    metrics:
        enabled: true
coerce_tz_aware: false
go_feature_serving: true
openlineage:
    enabled: true
materialization:
    pull_latest_features: true
    online_write_batch_size: 1000
repo_path: /elsewhere
`.replace('registry: data/registry.db', 'registry:\n    path: data/registry.db\n    cache_mode: thread'),
      'feast_repo',
    )
    const plan = await larder('-c', repo, 'plan')
    expect(plan.code).toBe(0)
    const lines = plan.stderr.trim().split('\n')
    const keys = lines.map((l) => /feature_store\.yaml: ([\w.]+):/.exec(l)?.[1])
    expect(keys).toEqual([
      'registry.cache_mode',
      'batch_engine',
      'feature_server',
      'flags',
      'coerce_tz_aware',
      'repo_path',
      'go_feature_serving',
      'openlineage',
    ])
    for (const line of lines) expect(line).toMatch(/^warning: /)
    expect(plan.stderr).toContain('Larder materializes in-process')
  })

  it('a registry in an object store is an error naming the SQL registry', async () => {
    for (const path of ['s3://bucket/registry.db', 'gs://bucket/registry.db', 'https://host/registry.db']) {
      const repo = repoWith(LOCAL.replace('data/registry.db', path), 'feast_repo')
      const plan = await larder('-c', repo, 'plan')
      expect(plan.code).toBe(1)
      expect(plan.stderr).toContain(`registry.path "${path}" is an object-store URL`)
      expect(plan.stderr).toContain('registry_type: sql')
    }
  })
})

describe('plan checks the store options as apply does', () => {
  it.each([
    ['an unknown online option', 'online_store:\n    type: sqlite\n    pathh: x.db\n', 'unknown key "pathh"'],
    ['a bad online value', 'online_store:\n    type: redis\n    redis_type: sentinel\n', 'redis_type'],
    ['an unknown online type', 'online_store:\n    type: dynamodb\n', 'unknown online store type "dynamodb"'],
    [
      'an unknown offline option',
      'offline_store:\n    type: file\n    staging: x\n',
      'unknown key "staging"',
    ],
    ['an unknown online type as a string', 'online_store: sqlit\n', 'unknown online store type "sqlit"'],
    ['an unknown offline type as a string', 'offline_store: fil\n', 'unknown offline_store type "fil"'],
  ])('%s', async (_name, block, message) => {
    const repo = repoWith(`project: my_project\n${block}`, 'feast_repo')
    const plan = await larder('-c', repo, 'plan')
    const apply = await larder('-c', repo, 'apply')
    expect(plan.code).toBe(1)
    expect(plan.stderr).toContain(message)
    expect(plan.stderr).toBe(apply.stderr)
    expect(plan.stdout).toBe('')
  })

  it('reads a store written as a string as its type with default options, as Feast does', async () => {
    const plan = await larder(
      '-c',
      repoWith('project: my_project\nonline_store: sqlite\noffline_store: file\n', 'feast_repo'),
      'plan',
    )
    expect(plan.stderr).toBe('')
    expect(plan.code).toBe(0)
    const typo = await larder(
      '-c',
      repoWith('project: my_project\nonline_store: sqlit\n', 'feast_repo'),
      'plan',
    )
    expect(typo.stderr).toMatch(/hint: known types: .*postgres.*redis.*sqlite/)
  })

  it('disables the online store with Feast\'s "None" and plans', async () => {
    const plan = await larder(
      '-c',
      repoWith('project: my_project\nonline_store: None\n', 'feast_repo'),
      'plan',
    )
    expect(plan.stderr).toBe('')
    expect(plan.code).toBe(0)
  })
})
