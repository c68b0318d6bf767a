import { Badge, Select } from '@mantine/core'
import { useProjects } from '../api'
import { navigate, path, useLocation } from '../router'

/**
 * The same page in another project: the list a page belongs to (`/p/b/feature-views` from
 * `/p/a/feature-views/x`), since an object of one project need not exist in another.
 */
export function sameListIn(project: string, pathname: string): string {
  const list = pathname.split('/').filter(Boolean)[2]
  return list === undefined ? path('p', project) : path('p', project, list)
}

/**
 * The header's project: a badge when the registry holds one project, a picker when it holds several
 * (it keeps the page's list when switching).
 */
export function ProjectPicker({ current }: { current: string }) {
  const projects = useProjects()
  const location = useLocation()
  const names = (projects.data ?? []).map((p) => p.name)
  if (names.length < 2) {
    return (
      <Badge variant="outline" tt="none" className="project-badge" aria-label={`project ${current}`}>
        {current}
      </Badge>
    )
  }
  return (
    <Select
      aria-label="Project"
      size="xs"
      w={160}
      className="project-badge"
      allowDeselect={false}
      data={names.includes(current) ? names : [current, ...names]}
      value={current}
      onChange={(next) => {
        if (next && next !== current) navigate(sameListIn(next, location.split(/[?#]/)[0]!))
      }}
    />
  )
}
