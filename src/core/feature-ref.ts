import { LarderError } from './errors.js'

/** A parsed feature reference `"<view>:<feature>"`. */
export interface FeatureRef {
  readonly view: string
  readonly feature: string
}

/**
 * Parses `"driver_hourly_stats:conv_rate"`. A version suffix (`view@v2:feat`) is not supported yet and
 * is rejected with a clear message rather than silently ignored.
 */
export function parseFeatureRef(ref: string): FeatureRef {
  const parts = typeof ref === 'string' ? ref.split(':') : []
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') {
    throw new LarderError(
      'INVALID_ARGUMENT',
      `feature reference ${JSON.stringify(ref)} is not "<view>:<feature>"`,
      {
        hint: "write references as 'driver_hourly_stats:conv_rate'",
      },
    )
  }
  const [view, feature] = parts as [string, string]
  if (view.includes('@')) {
    throw new LarderError('UNSUPPORTED', `feature reference ${JSON.stringify(ref)} names a view version`, {
      hint: `drop the version: '${view.split('@')[0]}:${feature}'`,
    })
  }
  return { view, feature }
}

/** The output column name of a feature: `feature`, or `view__feature` with full feature names. */
export function outputColumnName(viewName: string, feature: string, fullFeatureNames: boolean): string {
  return fullFeatureNames ? `${viewName}__${feature}` : feature
}
