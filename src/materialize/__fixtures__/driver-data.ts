// Sample rows for the driver-features.ts views, around T0 = 2026-01-01T00:00:00Z.
import type { FeatureView } from '../../core/index.js'
import type { Row } from '../../offline/index.js'
import { driverStats, globalStats, riderStats } from './driver-features.js'

export const T0 = Date.parse('2026-01-01T00:00:00Z')
export const HOUR = 3_600_000

/** An ISO time `hours` after T0. */
export function at(hours: number): string {
  return new Date(T0 + hours * HOUR).toISOString()
}

/** A driver_stats row with every feature set; `overrides` replace columns. */
export function driverRow(driverId: number, hours: number, overrides: Row = {}): Row {
  return {
    driver_id: driverId,
    event_timestamp: at(hours),
    created: at(hours),
    conv_rate: 0.25,
    acc_rate: 0.5,
    trips: 7,
    rank: 1,
    label: 'ok',
    active: true,
    seen: at(hours),
    tags: ['a', 'b'],
    scores: [1.5, -2],
    ...overrides,
  }
}

/**
 * - 1001: three rows, 1h, 3h and 5h after T0 (conv_rate 0.1, 0.3, 0.5);
 * - 1002: one row at 2h with null features and an int64 beyond 2^53;
 * - 1003: two rows at 3h; the one created later (label "late") wins;
 * - rider r1 at 1h; the entity-less global row at 1h (10) and 2h (20).
 */
export function sampleData(): Map<FeatureView, Row[]> {
  return new Map<FeatureView, Row[]>([
    [
      driverStats,
      [
        driverRow(1001, 1, { conv_rate: 0.125 }),
        driverRow(1001, 3, { conv_rate: 0.375 }),
        driverRow(1001, 5, { conv_rate: 0.625 }),
        driverRow(1002, 2, {
          conv_rate: null,
          acc_rate: null,
          label: null,
          active: null,
          seen: null,
          tags: null,
          trips: 2n ** 60n + 1n,
        }),
        driverRow(1003, 3, { label: 'early', created: at(3) }),
        driverRow(1003, 3, { label: 'late', created: at(3.5) }),
      ],
    ],
    [riderStats, [{ rider_id: 'r1', event_timestamp: at(1), rating: 4.5 }]],
    [
      globalStats,
      [
        { event_timestamp: at(1), active_drivers: 10 },
        { event_timestamp: at(2), active_drivers: 20 },
      ],
    ],
  ])
}
