// POST /explain (Larder's addition): the report of `explain` as JSON, its body checked and documented
// in the OpenAPI document, and the actions it authorizes. In-process through `app.request`.
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AuthObject,
  type AuthzAction,
  anonymousAuthenticator,
  LarderError,
  type Principal,
} from '../core/index.js'
import { createTestRepo, type TestRepo } from '../materialize/__fixtures__/test-repo.js'
import { stats } from '../serving/__fixtures__/explain-features.js'
import { FeatureServer } from './feature-server.js'

const DEFINITIONS = fileURLToPath(new URL('../serving/__fixtures__/explain-features.ts', import.meta.url))
const logger = pino({ level: 'silent' })

function at(hours: number): string {
  return new Date(Date.parse('2026-01-01T00:00:00Z') + hours * 3_600_000).toISOString().replace('.000Z', 'Z')
}

/** A JSON body read loosely: the tests check its shape with `toMatchObject`. */
// biome-ignore lint/suspicious/noExplicitAny: the answers are inspected field by field
type Json = any

async function post(server: FeatureServer, path: string, body: unknown) {
  const res = await server.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: res.status, body: (await res.json()) as Record<string, Json> }
}

describe('POST /explain', () => {
  let repo: TestRepo
  beforeAll(async () => {
    repo = await createTestRepo({
      onlineStore: 'type: sqlite\npath: data/online.db',
      definitions: DEFINITIONS,
      data: new Map([
        [
          stats,
          [
            { driver_id: 1001, event_timestamp: at(3), created: at(3), conv_rate: 0.5, trips: 3, label: 'a' },
            { driver_id: 1005, event_timestamp: at(5), created: at(5), conv_rate: 0.5, trips: 3, label: 'a' },
          ],
        ],
      ]),
    })
    await repo.store.materialize({ start: at(3), end: at(4), views: ['stats'] })
  })
  afterAll(async () => {
    await repo?.close()
  })

  it('answers the report: status, value, cause with its fix, and the evidence', async () => {
    const server = new FeatureServer(repo.store, { logger, registryRefreshSeconds: 0 })
    try {
      const ok = await post(server, '/explain', {
        entities: { driver_id: [1001] },
        features: ['stats:conv_rate', 'conv_plus_one:conv_rate_plus_one'],
        at: at(4),
      })
      expect(ok.status).toBe(200)
      expect(ok.body).toMatchObject({ project: repo.project, entity: { driver_id: 1001 }, at: at(4) })
      expect(ok.body.features[0]).toMatchObject({
        feature: 'stats:conv_rate',
        status: 'PRESENT',
        value: 0.5,
        event_timestamp: at(3),
        cause: { code: 'ok', fix: null },
        details: { view: 'stats', kind: 'feature view', age_seconds: 3600, ttl_seconds: 7200 },
      })
      expect(ok.body.features[1]).toMatchObject({ status: 'PRESENT', value: 1.5, cause: { code: 'ok' } })

      const stale = await post(server, '/explain', {
        entities: { driver_id: ['1005'] },
        features: ['stats:trips'],
        at: at(6),
      })
      expect(stale.status).toBe(200)
      expect(stale.body.features[0].cause.code).toBe('join_key_type')
      expect(stale.body.features[0].details.normalised_cause).toMatchObject({
        code: 'after_materialized_window',
        fix: `run: larder materialize-incremental ${at(6)} --views stats`,
      })

      const request = await post(server, '/explain', {
        entities: { driver_id: [1001] },
        request_context: { offset: [2] },
        features: ['trips_plus_offset:total'],
        at: at(4),
      })
      expect(request.body.features[0]).toMatchObject({ status: 'PRESENT', value: 5 })
    } finally {
      await server.close()
    }
  })

  it('refuses a bad body with 422 naming the field, and two rows or an unknown feature', async () => {
    const server = new FeatureServer(repo.store, { logger, registryRefreshSeconds: 0 })
    try {
      const both = await post(server, '/explain', {
        entities: { driver_id: [1] },
        features: ['stats:trips'],
        feature_service: 'pair',
      })
      expect(both.status).toBe(422)
      const typo = await post(server, '/explain', { entities: { driver_id: [1] }, feature: ['stats:trips'] })
      expect(typo.status).toBe(422)
      const two = await post(server, '/explain', {
        entities: { driver_id: [1, 2] },
        features: ['stats:trips'],
      })
      expect(two.status).toBe(422)
      expect(two.body.detail).toContain('explain takes one entity row')
      const unknown = await post(server, '/explain', {
        entities: { driver_id: [1] },
        features: ['stats:nope'],
      })
      expect(unknown.status).toBe(404)
      expect(unknown.body.detail).toContain('feature "nope" not found in feature view "stats"')
      const doc = (await (await server.app.request('/openapi.json')).json()) as Json
      expect(doc.paths['/explain'].post.requestBody.content['application/json'].schema.$ref).toBe(
        '#/components/schemas/ExplainRequest',
      )
      expect(doc.components.schemas.ExplainResponse).toBeDefined()
    } finally {
      await server.close()
    }
  })

  it('authorizes READ_ONLINE and READ_OFFLINE on the views read, and answers 403 when either is denied', async () => {
    const asked: [AuthzAction, string][] = []
    let deny: AuthzAction | undefined
    const server = new FeatureServer(repo.store, {
      logger,
      registryRefreshSeconds: 0,
      auth: {
        authenticator: anonymousAuthenticator,
        authorizer: {
          authorize(_principal: Principal, action: AuthzAction, object: AuthObject) {
            asked.push([action, `${object.type}:${object.name}`])
            if (action === deny) {
              throw new LarderError('PERMISSION_DENIED', `may not ${action} ${object.name}`)
            }
          },
        },
      },
    })
    try {
      const body = {
        entities: { driver_id: [1001] },
        features: ['conv_plus_one:conv_rate_plus_one'],
        at: at(4),
      }
      expect((await post(server, '/explain', body)).status).toBe(200)
      expect(asked).toEqual([
        ['READ_ONLINE', 'ON_DEMAND_FEATURE_VIEW:conv_plus_one'],
        ['READ_ONLINE', 'FEATURE_VIEW:stats'],
        ['READ_OFFLINE', 'ON_DEMAND_FEATURE_VIEW:conv_plus_one'],
        ['READ_OFFLINE', 'FEATURE_VIEW:stats'],
      ])
      for (const action of ['READ_ONLINE', 'READ_OFFLINE'] as const) {
        deny = action
        const denied = await post(server, '/explain', body)
        expect(denied.status, action).toBe(403)
        expect(denied.body.detail).toContain(`may not ${action}`)
      }
    } finally {
      await server.close()
    }
  })
})
