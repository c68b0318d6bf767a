// Test helpers for the web UI: `larder ui` run as a child process (the built CLI, as a user runs it)
// and Debian's Chromium driven by playwright-core. No browser is ever downloaded.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BrowserContext } from 'playwright-core'

export const BIN = resolve(fileURLToPath(new URL('../../../bin/larder.js', import.meta.url)))
export const CHROMIUM = process.env.LARDER_CHROMIUM ?? '/usr/bin/chromium'

/** Undefined when Chromium can be driven here, else why not (the browser tests then skip, or fail under CI). */
export function chromiumUnavailable(): string | undefined {
  if (!existsSync(CHROMIUM)) {
    return `no Chromium at ${CHROMIUM}: install Debian's package (apt-get install chromium) or set LARDER_CHROMIUM`
  }
  return undefined
}

export interface UiProcess {
  readonly process: ChildProcess
  readonly url: string
  stop(): Promise<void>
}

/**
 * Starts `larder -c <repo> ui --port 0` (plus `args`, with `env` added to the environment) and resolves
 * with the URL it prints.
 */
export function startUi(
  repo: string,
  {
    args = [],
    env = {},
    timeoutMs = 20_000,
  }: { args?: string[]; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<UiProcess> {
  const child = spawn(process.execPath, [BIN, '-c', repo, 'ui', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', ...env },
  })
  let out = ''
  let err = ''
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`larder ui did not start within ${timeoutMs} ms; stderr: ${err}`))
    }, timeoutMs)
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString()
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`larder ui exited with ${code} before listening; stderr: ${err}`))
    })
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const url = /Larder UI for project \S+: (https?:\/\/\S+)/.exec(out)?.[1]
      if (url) {
        clearTimeout(timer)
        resolvePromise({
          process: child,
          url,
          stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
            return exited
          },
        })
      }
    })
  })
}

/** Headless Chromium with a fresh profile, at 1280x800; `close()` also removes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const { chromium } = await import('playwright-core')
  const profile = mkdtempSync(join(tmpdir(), 'larder-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  return {
    context,
    async close() {
      await context.close()
      rmSync(profile, { recursive: true, force: true })
    },
  }
}
