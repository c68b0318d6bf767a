import '@mantine/core/styles.css'
import '@xyflow/react/dist/style.css'
import './styles.css'
import { createTheme, MantineProvider } from '@mantine/core'
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import { App } from './app'
import { completeSignIn } from './auth'

const theme = createTheme({ primaryColor: 'teal', defaultRadius: 'sm' })

const queryClient = new QueryClient({
  defaultOptions: { queries: { staleTime: 10_000, retry: 1, refetchOnWindowFocus: true } },
})

// the page may be the identity provider's answer to a sign-in: finish it before the first query
void completeSignIn().finally(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <MantineProvider theme={theme} defaultColorScheme="auto">
        <QueryClientProvider client={queryClient}>
          <App />
        </QueryClientProvider>
      </MantineProvider>
    </StrictMode>,
  ),
)
