import { resolve } from 'node:path'
import { toJson } from '@bufbuild/protobuf'
import type { Command } from 'commander'
import { RegistrySchema } from '../../gen/feast/core/Registry_pb.js'
import { FileRegistry } from '../../registry/index.js'
import type { CommandContext } from '../context.js'

export function registerRegistryDump(program: Command, ctx: CommandContext): void {
  program
    .command('registry-dump')
    .description(
      'print the whole registry (every project) as proto3 JSON; also reads a registry file Feast wrote',
    )
    .option('--registry <path>', "a registry file to read instead of the repo's")
    .action(async (opts: { registry?: string }) => {
      const registry = opts.registry
        ? new FileRegistry({ path: resolve(opts.registry), cacheTtlSeconds: 0 })
        : (await ctx.openStore()).registry
      const state = await registry.load({ allowCache: false })
      ctx.output.out(JSON.stringify(toJson(RegistrySchema, state.proto), null, 2))
    })
}
