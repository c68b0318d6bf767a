import { Text, useComputedColorScheme } from '@mantine/core'
import { CustomChart, LineChart } from 'echarts/charts'
import { GridComponent, MarkLineComponent, TooltipComponent } from 'echarts/components'
import * as echarts from 'echarts/core'
import { SVGRenderer } from 'echarts/renderers'
import { useEffect, useRef } from 'react'
import { formatAge, formatTime } from '../format'
import type { Interval } from '../model'

echarts.use([LineChart, CustomChart, GridComponent, TooltipComponent, MarkLineComponent, SVGRenderer])

type Option = echarts.EChartsCoreOption

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
          _: unknown,
          api: {
            value: (i: number) => number
            coord: (v: [number, number]) => [number, number]
            size: (v: [number, number]) => [number, number]
            style: () => object
          },
        ) => {
          const start = api.coord([api.value(0), 0.75])
          const end = api.coord([api.value(1), 0.25])
          return {
            type: 'rect',
            shape: {
              x: start[0],
              y: start[1],
              width: Math.max(2, end[0] - start[0]),
              height: end[1] - start[1],
            },
            style: { ...api.style(), opacity: 0.8 },
          }
        },
        encode: { x: [0, 1] },
        data: intervals.map((i) => [i.start, i.end]),
        itemStyle: { color: '#2f9e44' },
      },
    ],
  }
  return <EChart option={option} height={90} label="Timeline of materialized intervals" />
}

/** Age of the newest materialized data over time (a sawtooth: it drops when a window lands). */
export function FreshnessChart({ series, maxAge }: { series: [number, number][]; maxAge: number }) {
  const option: Option = {
    grid: { left: 56, right: 16, top: 16, bottom: 28 },
    xAxis: { type: 'time' },
    yAxis: {
      type: 'value',
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
                label: { formatter: 'maxAge' },
                lineStyle: { color: '#e03131', type: 'dashed' },
                data: [{ yAxis: maxAge * 1000 }],
              }
            : undefined,
      },
    ],
  }
  return (
    <EChart option={option} height={180} label="Freshness: age of the newest materialized data over time" />
  )
}

/** The timeline and the freshness chart of a view, in one lazily loaded module (ECharts is large). */
export function ChartsForView({
  intervals,
  series,
  maxAge,
  now,
}: {
  intervals: Interval[]
  series: [number, number][]
  maxAge: number
  now: number
}) {
  return (
    <>
      <Text size="sm" fw={600}>
        Timeline of materialized intervals
      </Text>
      <IntervalTimeline intervals={intervals} now={now} />
      <Text size="sm" fw={600}>
        Freshness (age of the newest materialized data)
      </Text>
      <FreshnessChart series={series} maxAge={maxAge} />
    </>
  )
}
