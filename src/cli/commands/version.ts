import { readFileSync } from 'node:fs'
import type { Command } from 'commander'
import type { CommandContext } from '../context.js'

/** The version in the package's own package.json. */
export function larderVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string
  }
  return pkg.version
}

export function registerVersion(program: Command, ctx: CommandContext): void {
  program
    .command('version')
    .description("print Larder's version")
    .option('--json', 'print as JSON')
    .action((opts: { json?: boolean }) => {
      const version = larderVersion()
      ctx.output.out(
        opts.json ? JSON.stringify({ larder: version, node: process.versions.node }) : `larder ${version}`,
      )
    })
}
