import { writeFileSync } from 'node:fs'
import type { Command } from 'commander'
import { z } from 'zod'
import { repoConfigSchema } from '../../config/index.js'
import { ONLINE_STORE_BACKENDS } from '../../online/loader.js'
import type { CommandContext } from '../context.js'

/**
 * The JSON Schema of `feature_store.yaml` for editors: the top-level keys from the config schema, with
 * `online_store` narrowed to each backend's own options.
 */
export async function configJsonSchema(): Promise<Record<string, unknown>> {
  const schema = z.toJSONSchema(repoConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  > & {
    properties: Record<string, unknown>
  }
  const stores = await Promise.all(
    Object.entries(ONLINE_STORE_BACKENDS).map(async ([type, backend]) => {
      const { optionsSchema } = await backend.config()
      const options = z.toJSONSchema(optionsSchema, { io: 'input', unrepresentable: 'any' }) as {
        properties?: Record<string, unknown>
      }
      return {
        type: 'object',
        properties: { type: { const: type }, ...(options.properties ?? {}) },
        required: ['type'],
        additionalProperties: false,
      }
    }),
  )
  schema.properties.online_store = {
    anyOf: [...stores, { type: 'null' }],
    description: 'Online store and its options',
  }
  schema.title = 'feature_store.yaml'
  return schema
}

export function registerConfigSchema(program: Command, ctx: CommandContext): void {
  program
    .command('config-schema')
    .description('print the JSON Schema of feature_store.yaml, for editor completion and checks')
    .option('-o, --out <file>', 'write it to a file instead')
    .action(async (opts: { out?: string }) => {
      const text = JSON.stringify(await configJsonSchema(), null, 2)
      if (opts.out) {
        writeFileSync(opts.out, `${text}\n`)
        ctx.output.out(`Wrote ${opts.out}`)
      } else ctx.output.out(text)
    })
}
