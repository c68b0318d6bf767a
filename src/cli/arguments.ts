import { toMicros } from '../core/index.js'

/**
 * A commander parser for an instant given on the command line: checks it as `toMicros` reads it, so a
 * bad value is reported under the argument's own name (`START`, `--start-date`) before any work
 * starts, and passes the text on unchanged (microseconds and offset included).
 */
export function instant(name: string): (text: string) => string {
  return (text) => {
    toMicros(text, name)
    return text
  }
}
