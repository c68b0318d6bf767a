import { Badge, Stack, Text, Title } from '@mantine/core'
import type { ColumnDef } from '@tanstack/react-table'
import { useEffect, useMemo, useState } from 'react'
import type { FeatureViewJson, RegistryData } from '../api'
import { Facts, LinkList, TagList } from '../components/bits'
import { CodeBlock } from '../components/code-block'
import { DataTable } from '../components/data-table'
import { Empty } from '../components/states'
import { href, servicesUsing, userTags } from '../model'
import { Link } from '../router'
import { NotFound, ObjectHeader, Section } from './common'
import { SchemaTable } from './feature-view'

function udf(v: FeatureViewJson) {
  return v.spec.featureTransformation?.userDefinedFunction ?? v.spec.userDefinedFunction
}

/** The source text of the transformation: `bodyText`, or the body when it is text rather than a pickle. */
function sourceText(v: FeatureViewJson): string | undefined {
  const u = udf(v)
  if (u?.bodyText) return u.bodyText
  if (!u?.body) return undefined
  try {
    const text = atob(u.body)
    return /^[\t\n\r\x20-\x7e]*$/.test(text) ? text : undefined
  } catch {
    return undefined
  }
}

function languageOf(v: FeatureViewJson, text: string): string {
  const mode = (v.spec.mode ?? '').toLowerCase()
  if (mode.includes('python') || mode === 'pandas' || /^\s*def\s/m.test(text)) return 'python'
  return 'typescript'
}

/** The registry's hash of the source (a `*hash*` tag), else SHA-256 of the text computed here. */
function useHash(
  v: FeatureViewJson | undefined,
  text: string | undefined,
): { value: string; from: string } | undefined {
  const tagged = Object.entries(v?.spec.tags ?? {}).find(([k]) => k.toLowerCase().includes('hash'))
  const [computed, setComputed] = useState<string>()
  useEffect(() => {
    if (tagged || !text || !globalThis.crypto?.subtle) return
    let live = true
    crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)).then((buf) => {
      if (live)
        setComputed(
          Array.from(new Uint8Array(buf))
            .map((b) => b.toString(16).padStart(2, '0'))
            .join(''),
        )
    })
    return () => {
      live = false
    }
  }, [tagged, text])
  if (tagged) return { value: tagged[1], from: `registry tag ${tagged[0]}` }
  return computed
    ? { value: `sha256:${computed}`, from: 'SHA-256 of the source text, computed here' }
    : undefined
}

function sourcesOf(v: FeatureViewJson) {
  return Object.entries(v.spec.sources ?? {}).map(([key, s]) => {
    if (s.requestDataSource)
      return { key, kind: 'request' as const, name: s.requestDataSource.name, source: s }
    const name = s.featureViewProjection?.featureViewName ?? s.featureView?.spec?.name ?? key
    return { key, kind: 'view' as const, name, source: s }
  })
}

export function OnDemandViewsPage({ data }: { data: RegistryData }) {
  const p = data.project
  const columns = useMemo<ColumnDef<FeatureViewJson, unknown>[]>(
    () => [
      {
        id: 'name',
        accessorFn: (v) => v.spec.name,
        header: 'Name',
        cell: (c) => (
          <Link to={href(p, 'onDemandFeatureView', c.row.original.spec.name)} className="text-link">
            {c.row.original.spec.name}
          </Link>
        ),
      },
      {
        id: 'sources',
        accessorFn: (v) =>
          sourcesOf(v)
            .map((s) => s.name)
            .join(', '),
        header: 'Sources',
      },
      { id: 'features', accessorFn: (v) => (v.spec.features ?? []).length, header: 'Features' },
      { id: 'mode', accessorFn: (v) => v.spec.mode ?? '', header: 'Mode' },
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
      <Title order={2}>On-demand views</Title>
      <DataTable
        rows={data.onDemandViews}
        columns={columns}
        label="On-demand views"
        initialSort={[{ id: 'name', desc: false }]}
        filterText={(v) =>
          `${v.spec.name} ${(v.spec.features ?? []).map((f) => f.name).join(' ')} ${userTags(v.spec.tags).join(' ')}`
        }
        empty={
          <Empty title="No on-demand views">
            An on-demand view computes features at request time from feature views and request data. Define an{' '}
            <code>OnDemandFeatureView</code> in your repository and run <code>larder apply</code>.
          </Empty>
        }
      />
    </Stack>
  )
}

export function OnDemandViewPage({ data, name }: { data: RegistryData; name: string }) {
  const view = data.onDemandViews.find((v) => v.spec.name === name)
  const text = view ? sourceText(view) : undefined
  const hash = useHash(view, text)
  if (!view) return <NotFound project={data.project} kind="onDemandFeatureView" name={name} />
  const p = data.project
  const sources = sourcesOf(view)
  const requestFields = sources.flatMap((s) => s.source.requestDataSource?.requestDataOptions?.schema ?? [])
  return (
    <Stack gap="md">
      <ObjectHeader
        project={p}
        kind="onDemandFeatureView"
        name={view.spec.name}
        description={view.spec.description}
      >
        {view.spec.mode && <Badge variant="light">{view.spec.mode}</Badge>}
      </ObjectHeader>
      <Section title="Sources">
        <Facts
          rows={sources.map((s) => [
            s.key,
            s.kind === 'request' ? (
              <Link key={s.key} to={href(p, 'dataSource', s.name)} className="text-link">
                {s.name} (request source)
              </Link>
            ) : (
              <span key={s.key}>
                <Link to={href(p, 'featureView', s.name)} className="text-link">
                  {s.name}
                </Link>
                {(s.source.featureViewProjection?.featureColumns ?? []).length > 0 && (
                  <Text span c="dimmed" size="sm">
                    {' '}
                    ({(s.source.featureViewProjection?.featureColumns ?? []).map((f) => f.name).join(', ')})
                  </Text>
                )}
              </span>
            ),
          ])}
        />
      </Section>
      <Section title="Request fields">
        {requestFields.length === 0 ? (
          <Text c="dimmed" size="sm">
            none: it reads only feature views
          </Text>
        ) : (
          <SchemaTable features={requestFields} label="Request fields" />
        )}
      </Section>
      <Section title="Output schema">
        <SchemaTable features={view.spec.features ?? []} label="Output schema" />
      </Section>
      <Section title="Transformation">
        <Stack gap="xs">
          <Facts
            rows={[
              ['function', udf(view)?.name ?? '—'],
              [
                'hash',
                hash ? (
                  <span key="h" title={hash.from}>
                    <code>{hash.value}</code>{' '}
                    <Text span size="xs" c="dimmed">
                      ({hash.from})
                    </Text>
                  </span>
                ) : (
                  '—'
                ),
              ],
              [
                'feature services',
                <LinkList
                  key="s"
                  items={servicesUsing(data, view.spec.name).map((s) => ({
                    name: s,
                    to: href(p, 'featureService', s),
                  }))}
                />,
              ],
            ]}
          />
          {text ? (
            <CodeBlock code={text} language={languageOf(view, text)} label="transformation source" />
          ) : (
            <Text c="dimmed" size="sm">
              The registry holds no source text for this transformation.
            </Text>
          )}
        </Stack>
      </Section>
    </Stack>
  )
}
