import {
  ActionIcon,
  AppShell,
  Burger,
  Group,
  Stack,
  Text,
  Title,
  Tooltip,
  useComputedColorScheme,
  useMantineColorScheme,
} from '@mantine/core'
import { useDisclosure } from '@mantine/hooks'
import { lazy, type ReactNode, Suspense, useEffect } from 'react'
import { type RegistryData, useProjects, useRegistry } from './api'
import { useToken } from './auth'
import { SearchBox } from './components/search-box'
import { Empty, ErrorState, Loading } from './components/states'
import { SignOutButton } from './components/token-form'
import { DataSourcePage, DataSourcesPage } from './pages/data-sources'
import { EntitiesPage, EntityPage } from './pages/entities'
import { FeatureServicePage, FeatureServicesPage } from './pages/feature-services'
import { FeatureViewPage } from './pages/feature-view'
import { FeatureViewsPage } from './pages/feature-views'
import { FeaturesPage } from './pages/features'
import { OnDemandViewPage, OnDemandViewsPage } from './pages/on-demand'
import { OverviewPage } from './pages/overview'
import { ProjectPicker } from './pages/projects'
import { RunsPage } from './pages/runs'
import { SavedDatasetPage, SavedDatasetsPage } from './pages/saved-datasets'
import { StreamViewsPage } from './pages/stream-views'
import { Link, match, navigate, path, useLocation } from './router'

const LineagePage = lazy(() => import('./pages/lineage'))

type Page = (props: { data: RegistryData; name: string }) => ReactNode

const ROUTES: [string, Page, string][] = [
  ['/p/:project', OverviewPage, 'Overview'],
  ['/p/:project/feature-views', FeatureViewsPage, 'Feature views'],
  ['/p/:project/feature-views/:name', FeatureViewPage, 'Feature view'],
  ['/p/:project/features', FeaturesPage, 'Features'],
  ['/p/:project/on-demand-views', OnDemandViewsPage, 'On-demand views'],
  ['/p/:project/on-demand-views/:name', OnDemandViewPage, 'On-demand view'],
  ['/p/:project/entities', EntitiesPage, 'Entities'],
  ['/p/:project/entities/:name', EntityPage, 'Entity'],
  ['/p/:project/data-sources', DataSourcesPage, 'Data sources'],
  ['/p/:project/data-sources/:name', DataSourcePage, 'Data source'],
  ['/p/:project/feature-services', FeatureServicesPage, 'Feature services'],
  ['/p/:project/feature-services/:name', FeatureServicePage, 'Feature service'],
  ['/p/:project/saved-datasets', SavedDatasetsPage, 'Saved datasets'],
  ['/p/:project/saved-datasets/:name', SavedDatasetPage, 'Saved dataset'],
  ['/p/:project/lineage', (props) => <LineagePage {...props} />, 'Lineage'],
  ['/p/:project/runs', RunsPage, 'Materialization runs'],
  ['/p/:project/stream-views', StreamViewsPage, 'Stream views'],
]

const NAV: [string, string][] = [
  ['', 'Overview'],
  ['feature-views', 'Feature views'],
  ['features', 'Features'],
  ['on-demand-views', 'On-demand views'],
  ['entities', 'Entities'],
  ['data-sources', 'Data sources'],
  ['feature-services', 'Feature services'],
  ['saved-datasets', 'Saved datasets'],
  ['lineage', 'Lineage'],
  ['runs', 'Runs'],
  ['stream-views', 'Stream views'],
]

export function App() {
  const location = useLocation()
  const pathname = location.split(/[?#]/)[0]!
  const project = match('/p/:project', pathname)?.project ?? /^\/p\/([^/]+)/.exec(pathname)?.[1]
  const decoded = project === undefined ? undefined : decodeURIComponent(project)
  const registry = useRegistry(decoded ?? '')
  const [opened, { toggle, close }] = useDisclosure()
  const token = useToken()
  // biome-ignore lint/correctness/useExhaustiveDependencies: closes the mobile menu on navigation
  useEffect(() => close(), [pathname, close])

  let route: { page: Page; title: string; name: string } | undefined
  for (const [pattern, page, title] of ROUTES) {
    const params = match(pattern, pathname)
    if (params) route = { page, title, name: params.name ?? '' }
  }
  useEffect(() => {
    const name = route?.name ? `${route.name} · ` : ''
    document.title = `${name}${route?.title ?? 'Projects'} · Larder`
  }, [route?.name, route?.title])

  return (
    <AppShell
      header={{ height: 56 }}
      navbar={{ width: 210, breakpoint: 'sm', collapsed: { mobile: !opened, desktop: !decoded } }}
      padding="md"
    >
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            {decoded && (
              <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Menu" />
            )}
            <Link to="/" className="text-link" aria-label="Larder: projects">
              <Title order={3} c="teal">
                Larder
              </Title>
            </Link>
            {decoded && <ProjectPicker current={decoded} />}
          </Group>
          <Group gap="sm" wrap="nowrap">
            {decoded && <SearchBox data={registry.data} />}
            {token !== null && <SignOutButton />}
            <ColorSchemeToggle />
          </Group>
        </Group>
      </AppShell.Header>
      {decoded && (
        <AppShell.Navbar p="xs" aria-label="Pages">
          <Stack gap={2}>
            {NAV.map(([segment, label]) => {
              const to = segment ? path('p', decoded, segment) : path('p', decoded)
              const current = segment ? pathname.startsWith(to) : pathname === to
              return (
                <Link key={label} to={to} className="nav-link" aria-current={current ? 'page' : undefined}>
                  {label}
                </Link>
              )
            })}
          </Stack>
        </AppShell.Navbar>
      )}
      <AppShell.Main id="main">
        {!decoded ? (
          <Projects />
        ) : registry.isPending ? (
          <Loading what={`project ${decoded}`} />
        ) : registry.isError ? (
          <ErrorState error={registry.error} retry={() => registry.refetch()} />
        ) : !route ? (
          <Empty title="No such page">
            <Link to={path('p', decoded)} className="text-link">
              Go to the overview of {decoded}
            </Link>
          </Empty>
        ) : (
          <Suspense fallback={<Loading what="the page" />}>
            <route.page data={registry.data} name={route.name} />
          </Suspense>
        )}
      </AppShell.Main>
    </AppShell>
  )
}

function ColorSchemeToggle() {
  const { setColorScheme } = useMantineColorScheme()
  const scheme = useComputedColorScheme('light')
  const next = scheme === 'dark' ? 'light' : 'dark'
  return (
    <Tooltip label={`Switch to ${next} mode`}>
      <ActionIcon
        variant="default"
        size="lg"
        aria-label={`Switch to ${next} mode`}
        onClick={() => setColorScheme(next)}
      >
        {scheme === 'dark' ? '☀' : '☾'}
      </ActionIcon>
    </Tooltip>
  )
}

/** The root: a single project opens directly; several are listed; none means nothing was applied. */
function Projects() {
  const projects = useProjects()
  const only = projects.data?.length === 1 ? projects.data[0]!.name : undefined
  useEffect(() => {
    if (only) navigate(path('p', only), { replace: true })
  }, [only])
  if (projects.isPending || only) return <Loading what="projects" />
  if (projects.isError) return <ErrorState error={projects.error} retry={() => projects.refetch()} />
  if (projects.data.length === 0) {
    return (
      <Empty title="No registry yet">
        This repository has no applied objects. Run <code>larder apply</code> in the feature repository, then
        reload this page.
      </Empty>
    )
  }
  return (
    <Stack maw={640}>
      <Title order={2}>Projects</Title>
      {projects.data.map((p) => (
        <div key={p.name}>
          <Link to={path('p', p.name)} className="text-link">
            <Text fw={600}>{p.name}</Text>
          </Link>
          {p.description && (
            <Text size="sm" c="dimmed">
              {p.description}
            </Text>
          )}
        </div>
      ))}
    </Stack>
  )
}
