import { LarderError } from '../core/index.js'

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g

/**
 * Substitutes `${VAR}`, `${VAR:-default}` and `$VAR` from the environment, as Feast does with
 * `os.path.expandvars`. Unlike Feast, an undefined variable without a default is an error naming it,
 * rather than text left in place to fail later. `$$` is a literal `$`.
 */
export function expandEnv(text: string, source: string, env: NodeJS.ProcessEnv = process.env): string {
  return text
    .split('$$')
    .map((part) =>
      part.replace(
        VAR,
        (match, braced: string | undefined, fallback: string | undefined, bare: string | undefined) => {
          const name = (braced ?? bare)!
          const value = env[name]
          if (value !== undefined) return value
          if (fallback !== undefined) return fallback
          if (bare !== undefined && !/^[A-Z_][A-Z0-9_]*$/.test(name)) return match
          throw new LarderError(
            'INVALID_CONFIG',
            `${source} uses the environment variable ${name}, which is not set`,
            {
              hint: `set ${name}, or write \${${name}:-default} to give a default`,
            },
          )
        },
      ),
    )
    .join('$')
}
