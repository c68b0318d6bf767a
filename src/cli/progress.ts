import { type Output, paint } from './output.js'

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏']

/**
 * Shows that long work is running: on a TTY a spinner with the elapsed time on stderr, redrawn in
 * place; otherwise one plain line when it starts. `stop()` clears the spinner and returns the seconds.
 */
export function startTicker(output: Output, label: string): { stop(): number } {
  const started = performance.now()
  const elapsed = () => (performance.now() - started) / 1000
  if (!output.isTTY) {
    output.err(`${label}...`)
    return { stop: elapsed }
  }
  let frame = 0
  const draw = () =>
    process.stderr.write(
      `\r${paint(output, 'cyan', FRAMES[frame++ % FRAMES.length]!)} ${label} ${elapsed().toFixed(1)}s`,
    )
  draw()
  const timer = setInterval(draw, 100)
  return {
    stop() {
      clearInterval(timer)
      process.stderr.write('\r\x1b[K')
      return elapsed()
    },
  }
}
