import { Stack, Table, Text, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useMemo } from 'react'
import type { FeatureJson, FeatureServiceJson, RegistryData } from '../api'
import { Facts, Name, TagList } from '../components/bits'
import { CodeBlock } from '../components/code-block'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { TryIt } from '../components/try-it'
import { formatTime, parseTime } from '../format'
import { href, requestFields, userTags } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'

const NUMERIC = new Set(['INT32', 'INT64', 'FLOAT', 'DOUBLE'])

/** The join keys of the views a service reads (from their entity columns, else their entities). */
export function serviceJoinKeys(data: RegistryData, service: FeatureServiceJson): FeatureJson[] {
  const keys = new Map<string, FeatureJson>()
  for (const p of service.spec.features ?? []) {
    const view = data.featureViews.find((v) => v.spec.name === p.featureViewName)
    if (!view) continue
    const columns =
      view.spec.entityColumns && view.spec.entityColumns.length > 0
        ? view.spec.entityColumns
        : (view.spec.entities ?? []).flatMap((e) => {
            const entity = data.entities.find((x) => x.spec.name === e)
            return entity?.spec.joinKey
              ? [{ name: entity.spec.joinKey, valueType: entity.spec.valueType }]
              : []
          })
    for (const c of columns) {
      const mapped = p.joinKeyMap?.[c.name] ?? c.name
      keys.set(mapped, { ...c, name: mapped })
    }
  }
  return [...keys.values()]
}

function example(k: FeatureJson): number | string {
  return k.valueType && NUMERIC.has(k.valueType) ? 1001 : 'key'
}

export function FeatureServicesPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<FeatureServiceJson, unknown>[]>(
    () => [
      {
        id: 'name',
        accessorFn: (s) => s.spec.name,
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'featureService', c.row.original.spec.name)} className="text-link">
            <Name>{c.row.original.spec.name}</Name>
          </Link>
        ),
      },
      {
        id: 'views',
        accessorFn: (s) =>
          (s.spec.features ?? []).map((f) => f.featureViewNameAlias || f.featureViewName).join(', '),
        header: 'Feature views',
      },
      {
        id: 'features',
        accessorFn: (s) => (s.spec.features ?? []).reduce((n, f) => n + (f.featureColumns ?? []).length, 0),
        header: 'Features',
      },
      { id: 'description', accessorFn: (s) => s.spec.description ?? '', header: 'Description' },
      {
        id: 'tags',
        header: 'Tags',
        enableSorting: false,
        cell: (c) => <TagList tags={c.row.original.spec.tags} />,
      },
    ],
    [p],
  )
  return (
    <Stack>
      <Title order={2}>Feature services</Title>
      <DataTable
        rows={data.featureServices}
        columns={columns}
        label="Feature services"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(s) =>
          `${s.spec.name} ${(s.spec.features ?? []).map((f) => f.featureViewName).join(' ')} ${userTags(s.spec.tags).join(' ')}`
        }
        empty={
          <Empty title="No feature services yet">
            A feature service names the features a model reads. Define a <code>FeatureService</code> and run{' '}
            <code>larder apply</code>.
          </Empty>
        }
      />
    </Stack>
  )
}

export function FeatureServicePage({ data, name }: { data: RegistryData; name: string }) {
  const s = data.featureServices.find((x) => x.spec.name === name)
  if (!s) return <NotFound project={data.project} kind="featureService" name={name} />
  const p = data.project
  const keys = serviceJoinKeys(data, s)
  const fields = requestFields(
    data,
    (s.spec.features ?? []).map((f) => f.featureViewName),
  )
  const entities = Object.fromEntries([...keys, ...fields].map((k) => [k.name, [example(k)]]))
  const origin = window.location.origin
  const body = JSON.stringify({ feature_service: s.spec.name, entities })
  const curl = `curl -X POST ${origin}/get-online-features \\\n  -H 'content-type: application/json' \\\n  -d '${body}'`
  const entityText = [...keys, ...fields].map((k) => `${k.name}: [${JSON.stringify(example(k))}]`).join(', ')
  const client = `import { LarderClient } from 'larderjs/client'

const client = new LarderClient('${origin}')
const res = await client.getOnlineFeatures({
  featureService: '${s.spec.name}',
  entities: { ${entityText} },
})
console.log(res.metadata.featureNames, res.results)`
  const odfv = new Set(data.onDemandViews.map((v) => v.spec.name))
  return (
    <Stack gap="md">
      <ObjectHeader project={p} kind="featureService" name={s.spec.name} description={s.spec.description} />
      <Section title="Definition">
        <Facts
          rows={[
            ['owner', s.spec.owner || '—'],
            ['tags', <TagList key="t" tags={s.spec.tags} />],
            ['updated', formatTime(parseTime(s.meta?.lastUpdatedTimestamp))],
          ]}
        />
      </Section>
      <Section title="Projections">
        <Table aria-label="Projections" striped>
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Feature view</Table.Th>
              <Table.Th>Reported as</Table.Th>
              <Table.Th>Features</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(s.spec.features ?? []).map((f) => (
              <Table.Tr key={f.featureViewNameAlias || f.featureViewName}>
                <Table.Td>
                  <Link
                    to={href(
                      p,
                      odfv.has(f.featureViewName) ? 'onDemandFeatureView' : 'featureView',
                      f.featureViewName,
                    )}
                    className="text-link"
                  >
                    {f.featureViewName}
                  </Link>
                </Table.Td>
                <Table.Td>
                  {f.featureViewNameAlias || (
                    <Text c="dimmed" size="sm">
                      {f.featureViewName}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>{(f.featureColumns ?? []).map((c) => c.name).join(', ')}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Section>
      <Section title="Call it">
        <Stack gap="sm">
          <Text size="sm" fw={600}>
            curl
          </Text>
          <CodeBlock code={curl} language="bash" label="curl request" />
          <Text size="sm" fw={600}>
            TypeScript (larderjs/client)
          </Text>
          <CodeBlock code={client} language="typescript" label="typed client call" />
        </Stack>
      </Section>
      <Section title="Try it">
        <TryIt joinKeys={keys} requestFields={fields} featureService={s.spec.name} label={s.spec.name} />
      </Section>
    </Stack>
  )
}
