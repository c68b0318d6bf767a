import { Anchor, Breadcrumbs, Card, Group, Stack, Text, Title } from '@mantine/core'
import type { ReactNode } from 'react'
import { Empty } from '../components/states'
import { href, KIND_LABEL, type ObjectKind } from '../model'
import { Link } from '../router'

/**
 * The English plural of a label's last word: a consonant then `y` becomes `ies` (Entity → Entities),
 * `s`, `x`, `ch` and `sh` take `es`, anything else takes `s`.
 */
export function plural(label: string): string {
  if (/[^aeiou]y$/i.test(label)) return `${label.slice(0, -1)}ies`
  if (/(s|x|ch|sh)$/i.test(label)) return `${label}es`
  return `${label}s`
}

/** The heading of an object's page: the way back to its list, its name and description. */
export function ObjectHeader({
  project,
  kind,
  name,
  description,
  children,
}: {
  project: string
  kind: ObjectKind
  name: string
  description?: string
  children?: ReactNode
}) {
  return (
    <Stack gap={4}>
      <Breadcrumbs>
        <Anchor component={Link} to={href(project, kind)} size="sm">
          {plural(KIND_LABEL[kind])}
        </Anchor>
        <Text size="sm">{name}</Text>
      </Breadcrumbs>
      <Group justify="space-between" align="flex-end">
        <Title order={2}>{name}</Title>
        {children}
      </Group>
      {description && <Text c="dimmed">{description}</Text>}
    </Stack>
  )
}

export function Section({ title, children }: { title: string; children: ReactNode }) {
  return (
    <Card withBorder padding="md" component="section" aria-label={title}>
      <Title order={4} mb="sm">
        {title}
      </Title>
      {children}
    </Card>
  )
}

/** The page of an object that is not in the registry. */
export function NotFound({ project, kind, name }: { project: string; kind: ObjectKind; name: string }) {
  return (
    <Empty title={`${KIND_LABEL[kind]} "${name}" not found`}>
      It is not in project {project}: it may have been removed by the last <code>larder apply</code>.{' '}
      <Link to={href(project, kind)} className="text-link">
        See all {plural(KIND_LABEL[kind]).toLowerCase()}
      </Link>
      .
    </Empty>
  )
}
