import { Box, Button, CopyButton } from '@mantine/core'
import hljs from 'highlight.js/lib/core'
import shell from 'highlight.js/lib/languages/bash'
import javascript from 'highlight.js/lib/languages/javascript'
import python from 'highlight.js/lib/languages/python'
import typescript from 'highlight.js/lib/languages/typescript'
import { useMemo } from 'react'

hljs.registerLanguage('typescript', typescript)
hljs.registerLanguage('javascript', javascript)
hljs.registerLanguage('python', python)
hljs.registerLanguage('bash', shell)

/** Highlighted, copyable code. highlight.js escapes the text before it adds its spans. */
export function CodeBlock({ code, language, label }: { code: string; language: string; label: string }) {
  const html = useMemo(() => {
    try {
      return hljs.highlight(code, { language, ignoreIllegals: true }).value
    } catch {
      return hljs.highlight(code, { language: 'bash', ignoreIllegals: true }).value
    }
  }, [code, language])
  return (
    <Box component="figure" m={0} pos="relative" className="code-block" aria-label={label}>
      <CopyButton value={code}>
        {({ copied, copy }) => (
          <Button
            variant="default"
            size="compact-xs"
            onClick={copy}
            aria-label={`Copy ${label}`}
            pos="absolute"
            top={6}
            right={6}
          >
            {copied ? 'Copied' : 'Copy'}
          </Button>
        )}
      </CopyButton>
      {/* biome-ignore lint/security/noDangerouslySetInnerHtml: highlight.js output of escaped text */}
      <pre className="hljs" dangerouslySetInnerHTML={{ __html: html }} />
    </Box>
  )
}
