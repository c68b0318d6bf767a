import { describe, expect, it } from 'vitest'
import { GetOnlineFeaturesRequest, isPlainOnlineRequest } from './schemas.js'

// The hand-written check of the hot path must accept exactly what the schema accepts unchanged:
// anything it accepts skips the schema, so a body it wrongly accepted would reach serving unvalidated.
const bodies: unknown[] = [
  { features: ['v:a', 'v:b'], entities: { driver_id: [1, 2] } },
  { feature_service: 'svc', entities: { driver_id: [1] }, full_feature_names: true },
  { features: [], entities: {} },
  { features: ['v:a'], entities: { id: ['x'] }, request_context: { val: [1] }, strict: false },
  { features: ['v:a'], entities: { id: [1] }, include_feature_view_version_metadata: true },
  { features: ['v:a'], feature_service: 'svc', entities: { id: [1] } },
  { entities: { id: [1] } },
  { features: ['v:a'] },
  { features: ['v:a', 3], entities: { id: [1] } },
  { features: 'v:a', entities: { id: [1] } },
  { features: ['v:a'], entities: { id: 1 } },
  { features: ['v:a'], entities: [[1]] },
  { features: ['v:a'], entities: null },
  { features: ['v:a'], entities: { id: [1] }, full_feature_names: 'yes' },
  { features: ['v:a'], entities: { id: [1] }, strict: null },
  { features: ['v:a'], entities: { id: [1] }, request_context: { val: 1 } },
  { features: ['v:a'], entities: { id: [1] }, feature_sevice: 'typo' },
  { features: null, entities: { id: [1] } },
  { feature_service: 1, entities: { id: [1] } },
  [],
  null,
  'text',
]

describe('isPlainOnlineRequest', () => {
  it.each(bodies.map((b) => [JSON.stringify(b), b]))('agrees with the schema on %s', (_, body) => {
    const parsed = GetOnlineFeaturesRequest.safeParse(body)
    if (isPlainOnlineRequest(body)) {
      expect(parsed.success).toBe(true)
      expect(parsed.data).toEqual(body)
    } else {
      expect(parsed.success).toBe(false)
    }
  })
})
