import { Stack, Text, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import type { RegistryData, SavedDatasetJson } from '../api'
import { Facts, Name, TagList } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { formatTime, parseTime } from '../format'
import { href } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'

export function SavedDatasetsPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<SavedDatasetJson, unknown>[]>(
    () => [
      {
        id: 'name',
        accessorFn: (d) => d.spec.name,
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'savedDataset', c.row.original.spec.name)} className="text-link">
            <Name>{c.row.original.spec.name}</Name>
          </Link>
        ),
      },
      { id: 'features', accessorFn: (d) => (d.spec.features ?? []).length, header: 'Features' },
      { id: 'joinKeys', accessorFn: (d) => (d.spec.joinKeys ?? []).join(', '), header: 'Join keys' },
      { id: 'created', accessorFn: (d) => d.meta?.createdTimestamp ?? '', header: 'Created' },
    ],
    [p],
  )
  return (
    <Stack>
      <Title order={2}>Saved datasets</Title>
      <DataTable
        rows={data.savedDatasets}
        columns={columns}
        label="Saved datasets"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(d) => `${d.spec.name} ${(d.spec.features ?? []).join(' ')}`}
        empty={
          <Empty title="No saved datasets">
            A saved dataset records a training set built with <code>getHistoricalFeatures</code> so it can be
            found and reused. None is registered in this project.
          </Empty>
        }
      />
    </Stack>
  )
}

/** Feast's storage kinds (the one key of `SavedDatasetStorage`), as people call them. */
const STORAGE_KIND: Record<string, string> = {
  fileStorage: 'file',
  bigqueryStorage: 'BigQuery table',
  redshiftStorage: 'Redshift table',
  snowflakeStorage: 'Snowflake table',
  trinoStorage: 'Trino table',
  sparkStorage: 'Spark table',
  athenaStorage: 'Athena table',
  customStorage: 'PostgreSQL table',
}

/** What a `custom_storage` carries: base64 JSON of Feast's PostgreSQL storage options. */
function customConfiguration(configuration: unknown): Record<string, unknown> {
  if (typeof configuration !== 'string') return {}
  try {
    const parsed: unknown = JSON.parse(atob(configuration))
    return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/**
 * Where a saved dataset's rows are, for people: the storage kind and its path, URI or table. A kind
 * this page does not know is shown by its key, with what it holds as JSON.
 */
export function describeStorage(storage: Record<string, unknown> | undefined): {
  kind: string
  location: string
} {
  const [key, value] = Object.entries(storage ?? {})[0] ?? []
  if (key === undefined) return { kind: 'not recorded', location: '' }
  const options = {
    ...((value ?? {}) as Record<string, unknown>),
    ...customConfiguration((value as { configuration?: unknown } | undefined)?.configuration),
  }
  const location = [options.uri, options.path, options.table, options.query].find(
    (x): x is string => typeof x === 'string' && x !== '',
  )
  return {
    kind: STORAGE_KIND[key] ?? key,
    location: location ?? JSON.stringify(value ?? {}),
  }
}

/** The page of a feature named `view:feature`: its row on the view's page, or the on-demand view's. */
function featureHref(data: RegistryData, ref: string): string | undefined {
  const at = ref.indexOf(':')
  if (at < 0) return undefined
  const view = ref.slice(0, at)
  const feature = ref.slice(at + 1)
  if (data.featureViews.some((v) => v.spec.name === view)) {
    return href(data.project, 'featureView', view, `feature-${feature}`)
  }
  if (data.onDemandViews.some((v) => v.spec.name === view))
    return href(data.project, 'onDemandFeatureView', view)
  return undefined
}

export function SavedDatasetPage({ data, name }: { data: RegistryData; name: string }) {
  const d = data.savedDatasets.find((x) => x.spec.name === name)
  if (!d) return <NotFound project={data.project} kind="savedDataset" name={name} />
  const p = data.project
  const storage = describeStorage(d.spec.storage)
  const min = parseTime(d.meta?.minEventTimestamp)
  const max = parseTime(d.meta?.maxEventTimestamp)
  const service = d.spec.featureServiceName
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="savedDataset" name={d.spec.name} />
      <Section title="Definition">
        <Facts
          rows={[
            [
              'features',
              <Stack key="f" gap={2}>
                {(d.spec.features ?? []).map((f) => {
                  const to = featureHref(data, f)
                  return to ? (
                    <Link key={f} to={to} className="text-link">
                      <code>{f}</code>
                    </Link>
                  ) : (
                    <code key={f} title="not in this project's registry">
                      {f}
                    </code>
                  )
                })}
              </Stack>,
            ],
            ['join keys', (d.spec.joinKeys ?? []).join(', ') || '—'],
            ['full feature names', d.spec.fullFeatureNames ? 'yes' : 'no'],
            [
              'feature service',
              service && data.featureServices.some((s) => s.spec.name === service) ? (
                <Link key="s" to={href(p, 'featureService', service)} className="text-link">
                  {service}
                </Link>
              ) : (
                service || '—'
              ),
            ],
            [
              'storage',
              <Text key="st" size="sm" data-testid="storage">
                {storage.kind}
                {storage.location && (
                  <>
                    : <code>{storage.location}</code>
                  </>
                )}
              </Text>,
            ],
            [
              'event range',
              min !== undefined && max !== undefined ? (
                `${formatTime(min)} → ${formatTime(max)}`
              ) : (
                <Text key="e" size="sm" c="dimmed">
                  not recorded with this dataset
                </Text>
              ),
            ],
            ['created', formatTime(parseTime(d.meta?.createdTimestamp))],
            ['tags', <TagList key="t" tags={d.spec.tags} />],
          ]}
        />
      </Section>
    </Stack>
  )
}
