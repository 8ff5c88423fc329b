import { describe, expect, it } from 'vitest';
import { renderPolicyDiffText, runPolicyDiff, type PolicyDiffResult } from './run-policy-diff.js';

describe('renderPolicyDiffText', () => {
  it('shows control characters from a log line as "?", so a crafted decision id cannot drive the terminal', () => {
    const result: PolicyDiffResult = {
      from: 'a.yaml',
      to: 'b.yaml',
      static: [],
      replay: {
        files: ['d.log'],
        replayed: 1,
        unchanged: 0,
        changed: [{ decisionId: 'id\u001b[2J\r\n', direction: 'looser', request: 'GET h /p', from: 'deny', to: 'allow', detail: 'deny → allow' }],
        ignored: 0,
        withoutReplay: 0,
        malformed: 0,
        malformedSamples: [],
        notes: [],
      },
      loosening: 1,
      exitCode: 1,
      errors: [],
    };
    const text = renderPolicyDiffText(result, false);
    expect(text).toContain('  looser   id?[2J?? GET h /p: deny → allow\n');
    expect(text).not.toContain('\u001b');
    expect(text).toContain('result: 1 loosening change(s) — failing; pass --allow-loosening to accept');
  });
});

describe('runPolicyDiff', () => {
  it('answers exit 2 naming the file when a configuration cannot be read', async () => {
    const result = await runPolicyDiff({ from: '/nonexistent/old.yaml', to: '/nonexistent/new.yaml', replay: [], allowLoosening: false, env: {} });
    expect(result.exitCode).toBe(2);
    expect(result.errors.join('\n')).toContain('/nonexistent/old.yaml');
    expect(renderPolicyDiffText(result, false)).toMatch(/unusable input\n.*old\.yaml/);
  });
});
