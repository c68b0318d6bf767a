import { Text, useComputedColorScheme } from '@mantine/core'
import { BarChart, CustomChart, LineChart } from 'echarts/charts'
import { GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components'
import * as echarts from 'echarts/core'
import { SVGRenderer } from 'echarts/renderers'
import { useEffect, useRef } from 'react'
import { formatAge, formatTime } from '../format'
import type { Interval } from '../model'

echarts.use([
  BarChart,
  LineChart,
  CustomChart,
  GridComponent,
  TooltipComponent,
  MarkLineComponent,
  SVGRenderer,
])

type Option = echarts.EChartsCoreOption

/** Round steps for a duration axis (ms): 1s … 30m, 1h … 12h, 1d, 2d, 1w, 2w, 30d. */
const DURATION_STEPS = [
  1, 5, 15, 30, 60, 300, 900, 1800, 3600, 10800, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000,
].map((s) => s * 1000)

/** The smallest round step that splits [0, max] in at most `ticks` parts, and the axis end on it. */
export function durationAxis(max: number, ticks = 5): { interval: number; max: number } {
  const step =
    DURATION_STEPS.find((s) => s * ticks >= max) ?? Math.ceil(max / ticks / 2592000000) * 2592000000
  return { interval: step, max: Math.max(step, Math.ceil(max / step) * step) }
}

/** Pixels between back-to-back windows, and the narrowest a window is drawn. */
const WINDOW_GAP = 1
const WINDOW_MIN_WIDTH = 3

function EChart({ option, height, label }: { option: Option; height: number; label: string }) {
  const ref = useRef<HTMLDivElement>(null)
  const scheme = useComputedColorScheme('light')
  useEffect(() => {
    const el = ref.current
    if (!el) return
    const chart = echarts.init(el, scheme === 'dark' ? 'dark' : undefined, { renderer: 'svg' })
    chart.setOption({ backgroundColor: 'transparent', ...option })
    const observer = new ResizeObserver(() => chart.resize())
    observer.observe(el)
    return () => {
      observer.disconnect()
      chart.dispose()
    }
  }, [option, scheme])
  return <div ref={ref} style={{ height, width: '100%' }} role="img" aria-label={label} />
}

/** One bar per materialized window on a time axis. */
export function IntervalTimeline({ intervals, now }: { intervals: Interval[]; now: number }) {
  const min = Math.min(...intervals.map((i) => i.start))
  const max = Math.max(now, ...intervals.map((i) => i.end))
  let rightEdge = Number.NEGATIVE_INFINITY
  const option: Option = {
    grid: { left: 16, right: 16, top: 8, bottom: 28 },
    xAxis: { type: 'time', min, max },
    yAxis: { type: 'value', show: false, min: 0, max: 1 },
    tooltip: {
      formatter: (p: { value: [number, number] }) =>
        `${formatTime(p.value[0])} → ${formatTime(p.value[1])}<br/>${formatAge(p.value[1] - p.value[0])}`,
    },
    series: [
      {
        type: 'custom',
        renderItem: (
          params: { dataIndex: number },
          api: {
            value: (i: number) => number
            coord: (v: [number, number]) => [number, number]
            size: (v: [number, number]) => [number, number]
            style: () => object
          },
        ) => {
          const start = api.coord([api.value(0), 0.75])
          const end = api.coord([api.value(1), 0.25])
          // windows are sorted by start: each begins after the previous one's drawn right edge and a
          // gap, so a short window next to a long one stays visible
          if (params.dataIndex === 0) rightEdge = Number.NEGATIVE_INFINITY
          const x = Math.max(start[0], rightEdge + WINDOW_GAP)
          const width = Math.max(WINDOW_MIN_WIDTH, end[0] - x - WINDOW_GAP)
          rightEdge = x + width
          return {
            type: 'rect',
            shape: { x, y: start[1], width, height: end[1] - start[1] },
            style: { ...api.style(), opacity: 0.8 },
          }
        },
        encode: { x: [0, 1] },
        data: [...intervals].sort((a, b) => a.start - b.start).map((i) => [i.start, i.end]),
        itemStyle: { color: '#2f9e44' },
      },
    ],
  }
  return <EChart option={option} height={90} label="Timeline of materialized intervals" />
}

/** A run as the runs chart plots it: when it finished, rows written, and what the tooltip says. */
export interface RunPoint {
  readonly at: number
  readonly rowsWritten: number
  readonly failed: boolean
  readonly text: string
}

/** One bar per run at the time it ran (wall clock), as high as the rows it wrote; failed runs in red. */
export function RunsChart({ runs }: { runs: readonly RunPoint[] }) {
  const option: Option = {
    grid: { left: 56, right: 16, top: 16, bottom: 28 },
    xAxis: { type: 'time' },
    yAxis: { type: 'value', name: 'rows', minInterval: 1 },
    tooltip: {
      trigger: 'item',
      formatter: (p: { dataIndex: number }) => runs[p.dataIndex]?.text ?? '',
    },
    series: [
      {
        type: 'bar',
        name: 'rows written',
        barMaxWidth: 12,
        barMinHeight: 2,
        data: runs.map((r) => ({
          value: [r.at, r.rowsWritten],
          itemStyle: { color: r.failed ? '#e03131' : '#2f9e44' },
        })),
      },
    ],
  }
  return (
    <EChart option={option} height={150} label="Materialization runs: rows written, at the time each ran" />
  )
}

/** Age of the newest materialized event over time (a sawtooth: it drops when a run lands newer data). */
export function FreshnessChart({ series, maxAge }: { series: [number, number][]; maxAge: number }) {
  // the axis reaches maxAge, so its line and label stay in the plot however far above the data it is
  const axis = durationAxis(Math.max(1000, maxAge * 1000, ...series.map(([, age]) => age)))
  const option: Option = {
    grid: { left: 56, right: 16, top: 16, bottom: 28 },
    xAxis: { type: 'time' },
    yAxis: {
      type: 'value',
      min: 0,
      max: axis.max,
      interval: axis.interval,
      axisLabel: { formatter: (v: number) => formatAge(v) },
    },
    tooltip: {
      trigger: 'axis',
      valueFormatter: (v: number) => formatAge(v),
    },
    series: [
      {
        type: 'line',
        name: 'age',
        showSymbol: false,
        data: series,
        areaStyle: { opacity: 0.15 },
        markLine:
          maxAge > 0
            ? {
                symbol: 'none',
                label: { formatter: `maxAge ${formatAge(maxAge * 1000)}`, position: 'insideEndTop' },
                lineStyle: { color: '#e03131', type: 'dashed' },
                data: [{ yAxis: maxAge * 1000 }],
              }
            : undefined,
      },
    ],
  }
  return (
    <EChart
      option={option}
      height={180}
      label={`Freshness: age of the newest materialized event over time; now ${formatAge(series[series.length - 1]?.[1] ?? 0)}`}
    />
  )
}

/** The timeline of windows, the runs and the freshness chart of a view, in one lazily loaded module (ECharts is large). */
export function ChartsForView({
  intervals,
  runs,
  series,
  maxAge,
  now,
}: {
  intervals: Interval[]
  runs: readonly RunPoint[]
  series: [number, number][]
  maxAge: number
  now: number
}) {
  return (
    <>
      {intervals.length > 0 && (
        <>
          <Text size="sm" fw={600}>
            Timeline of materialized intervals (event time)
          </Text>
          <IntervalTimeline intervals={intervals} now={now} />
        </>
      )}
      {runs.length > 0 && (
        <>
          <Text size="sm" fw={600}>
            Runs (when they ran; rows written)
          </Text>
          <RunsChart runs={runs} />
        </>
      )}
      {series.length > 0 && (
        <>
          <Text size="sm" fw={600}>
            Freshness (age of the newest materialized event)
          </Text>
          <FreshnessChart series={series} maxAge={maxAge} />
        </>
      )}
    </>
  )
}
