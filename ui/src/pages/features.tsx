import { Group, Select, Stack, Text, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo, useState } from 'react'
import type { FeatureJson, FeatureViewJson, RegistryData } from '../api'
import { LinkList, Name } from '../components/bits'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { href, type ObjectKind, userTags } from '../model'
import { Link } from '../router'

/** One feature of a view, with what the Features page shows and filters on. */
export interface FeatureRow {
  readonly id: string
  readonly name: string
  readonly view: string
  readonly viewKind: ObjectKind
  readonly type: string
  readonly description: string
  readonly owner: string
  /** `key=value` of the feature's own tags, then its view's. */
  readonly tags: string[]
  readonly services: string[]
}

/** Every feature of the project's feature views and on-demand views, with the services that use each. */
export function featureRows(data: RegistryData): FeatureRow[] {
  const services = new Map<string, string[]>()
  for (const s of data.featureServices) {
    for (const p of s.spec.features ?? []) {
      const columns = p.featureColumns ?? []
      for (const c of columns) {
        const key = `${p.featureViewName}:${c.name}`
        services.set(key, [...(services.get(key) ?? []), s.spec.name])
      }
    }
  }
  const rows: FeatureRow[] = []
  const add = (kind: ObjectKind, v: FeatureViewJson, f: FeatureJson) => {
    const id = `${v.spec.name}:${f.name}`
    rows.push({
      id,
      name: f.name,
      view: v.spec.name,
      viewKind: kind,
      type: f.valueType ?? '',
      description: f.description ?? '',
      owner: v.spec.owner ?? '',
      tags: [...userTags(f.tags), ...userTags(v.spec.tags)].map(([k, val]) => `${k}=${val}`),
      services: [...new Set(services.get(id) ?? [])],
    })
  }
  for (const v of data.featureViews) for (const f of v.spec.features ?? []) add('featureView', v, f)
  for (const v of data.onDemandViews) for (const f of v.spec.features ?? []) add('onDemandFeatureView', v, f)
  return rows
}

type Filter = 'type' | 'tag' | 'view' | 'owner'

const FILTERS: [Filter, string][] = [
  ['type', 'Type'],
  ['tag', 'Tag'],
  ['view', 'View'],
  ['owner', 'Owner'],
]

/** The values a row offers to a filter. */
function valuesOf(row: FeatureRow, filter: Filter): string[] {
  const by: Record<Filter, string[]> = {
    type: [row.type],
    tag: row.tags,
    view: [row.view],
    owner: [row.owner],
  }
  return by[filter].filter(Boolean)
}

export function FeaturesPage({ data }: { data: RegistryData }) {
  const p = data.project
  const all = useMemo(() => featureRows(data), [data])
  const [chosen, setChosen] = useState<Partial<Record<Filter, string>>>({})
  const options = useMemo(() => {
    const out = {} as Record<Filter, string[]>
    for (const [f] of FILTERS) out[f] = [...new Set(all.flatMap((r) => valuesOf(r, f)))].sort()
    return out
  }, [all])
  const rows = useMemo(
    () =>
      all.filter((r) =>
        FILTERS.every(([f]) => chosen[f] === undefined || valuesOf(r, f).includes(chosen[f]!)),
      ),
    [all, chosen],
  )
  const columns = useMemo<ColumnDef<FeatureRow, unknown>[]>(
    () => [
      {
        accessorKey: 'name',
        header: 'Feature',
        cell: (c) => {
          const r = c.row.original
          const to =
            r.viewKind === 'featureView'
              ? href(p, r.viewKind, r.view, `feature-${r.name}`)
              : href(p, r.viewKind, r.view)
          return (
            <Link to={to} className="text-link">
              <Name>{r.name}</Name>
            </Link>
          )
        },
      },
      {
        accessorKey: 'view',
        header: 'View',
        cell: (c) => (
          <Link to={href(p, c.row.original.viewKind, c.row.original.view)} className="text-link">
            <Name>{c.row.original.view}</Name>
          </Link>
        ),
      },
      { accessorKey: 'type', header: 'Type', meta: { nowrap: true } },
      { accessorKey: 'description', header: 'Description' },
      { accessorKey: 'owner', header: 'Owner', cell: (c) => c.row.original.owner || '—' },
      {
        id: 'tags',
        accessorFn: (r) => r.tags.join(' '),
        header: 'Tags',
        enableSorting: false,
        cell: (c) => <Text size="xs">{c.row.original.tags.join(', ') || '—'}</Text>,
      },
      {
        id: 'services',
        accessorFn: (r) => r.services.length,
        header: 'Used by',
        cell: (c) => (
          <LinkList
            items={c.row.original.services.map((s) => ({ name: s, to: href(p, 'featureService', s) }))}
          />
        ),
      },
    ],
    [p],
  )
  return (
    <Stack>
      <Title order={2}>Features</Title>
      {all.length > 0 && (
        <Group gap="sm" role="group" aria-label="Filter features by">
          {FILTERS.map(([f, label]) => (
            <Select
              key={f}
              label={label}
              placeholder="any"
              size="xs"
              w={180}
              clearable
              searchable
              data={options[f]}
              value={chosen[f] ?? null}
              onChange={(v) => setChosen((old) => ({ ...old, [f]: v ?? undefined }))}
              disabled={options[f].length === 0}
            />
          ))}
        </Group>
      )}
      <DataTable
        rows={rows}
        columns={columns}
        label="Features"
        initialSort={[
          { id: 'view', desc: false },
          { id: 'name', desc: false },
        ]}
        filterText={(r) =>
          `${r.view}:${r.name} ${r.type} ${r.description} ${r.owner} ${r.tags.join(' ')} ${r.services.join(' ')}`
        }
        empty={
          all.length === 0 ? (
            <Empty title="No features yet">
              Features are the fields of a <code>FeatureView</code>'s schema. Define one in your repository
              and run <code>larder apply</code>.
            </Empty>
          ) : (
            <Empty title="No feature matches these filters">Clear a filter above to see more features.</Empty>
          )
        }
      />
    </Stack>
  )
}
