// Preloaded (`node --import`) into each benchmark process by run.mjs: every JSON object line the
// process writes on stdout gets `peak_rss_mib`, the process's peak RSS so far (the OS high-water mark,
// `process.resourceUsage().maxRSS`) in MiB with one decimal. A line that already has the field keeps
// its own; other output (text, partial lines, non-object JSON) passes unchanged.

const write = process.stdout.write.bind(process.stdout)

/** The line with `peak_rss_mib` added when it is a JSON object without one; else the line as it is. */
function withPeakRss(line) {
  if (!line.startsWith('{') || !line.endsWith('}')) return line
  let figure
  try {
    figure = JSON.parse(line)
  } catch {
    return line
  }
  if (figure === null || typeof figure !== 'object' || Array.isArray(figure) || 'peak_rss_mib' in figure) {
    return line
  }
  figure.peak_rss_mib = Math.round(process.resourceUsage().maxRSS / 102.4) / 10
  return JSON.stringify(figure)
}

process.stdout.write = (chunk, encoding, callback) => {
  if (typeof chunk !== 'string' || !chunk.includes('{')) return write(chunk, encoding, callback)
  const lines = chunk.split('\n')
  // the last piece is the text after the final newline: a partial line, left as it is
  for (let i = 0; i < lines.length - 1; i++) lines[i] = withPeakRss(lines[i])
  return write(lines.join('\n'), encoding, callback)
}
