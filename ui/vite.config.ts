import react from '@vitejs/plugin-react'
import { defineConfig } from 'vite'

// `npm run dev` proxies the API to a running `larder ui` or `larder serve` (LARDER_URL, default :6566).
const target = process.env.LARDER_URL ?? 'http://127.0.0.1:6566'
const proxied = ['/api', '/get-online-features', '/health', '/projects-list.json']

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: '../dist/ui',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1200,
  },
  server: { proxy: Object.fromEntries(proxied.map((p) => [p, target])) },
})
