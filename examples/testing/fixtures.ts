// The rows the example tests put in the offline source: two hourly rows for one driver.
export const NOW = '2026-01-01T00:00:00Z'

export const driverStatsRows = [
  { driver_id: 1001, event_timestamp: '2025-12-31T12:00:00Z', conv_rate: 0.25, trips_today: 3 },
  { driver_id: 1001, event_timestamp: '2025-12-31T23:00:00Z', conv_rate: 0.5, trips_today: 7 },
]
