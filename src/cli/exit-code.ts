/**
 * Thrown by a command to end the CLI with an exit code of its own: the code, and the error to report
 * (as any other error is reported) or none when the command has printed its verdict already.
 *
 * @example throw new ExitCode(1) // `larder reproduce`: the set changed, already printed
 */
export class ExitCode extends Error {
  override readonly name = 'ExitCode'
  readonly code: number
  readonly error: unknown

  constructor(code: number, error?: unknown) {
    super(`exit ${code}`)
    this.code = code
    this.error = error
  }
}
