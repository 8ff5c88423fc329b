/** One problem found in a configuration file. */
export interface ConfigIssue {
  /** Where in the document, e.g. `policy.routes[2].require.issuers[0]` (empty for the whole document). */
  readonly path: string;
  /** 1-based line of the offending node, when known. */
  readonly line?: number;
  /** 1-based column of the offending node, when known. */
  readonly column?: number;
  readonly message: string;
}

/**
 * Thrown by `parseConfig()` / `loadConfig()` when a configuration cannot be used. It carries **every**
 * problem found, not just the first, so an operator fixes the file in one pass.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  /** The file name (or other source label) the issues refer to. */
  readonly sourceName: string;
  readonly issues: readonly ConfigIssue[];

  constructor(sourceName: string, issues: readonly ConfigIssue[]) {
    super(`invalid configuration ${sourceName}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n${formatIssues(sourceName, issues)}`);
    this.sourceName = sourceName;
    this.issues = issues;
  }

  /**
   * One line per issue, `file:line:column path: message`, e.g.
   * `examples/idgate.yaml:12:7 policy.routes[2].require.issuers[0]: unknown issuer "crop" (defined: corp)`.
   */
  format(): string {
    return formatIssues(this.sourceName, this.issues);
  }
}

function formatIssues(sourceName: string, issues: readonly ConfigIssue[]): string {
  return issues
    .map((issue) => {
      const where = issue.line === undefined ? sourceName : `${sourceName}:${issue.line}:${issue.column ?? 1}`;
      return issue.path === '' ? `${where}: ${issue.message}` : `${where} ${issue.path}: ${issue.message}`;
    })
    .join('\n');
}
