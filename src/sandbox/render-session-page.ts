import type { SessionStatus } from '../core/verdict.js';
import { escapeHtml, renderHtmlDocument } from '../http/render-html-document.js';
import { SANDBOX_PERSON } from './build-sandbox-decision.js';

const STYLE = `
body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1b1f24}
main{max-width:34rem;margin:2rem auto;padding:1.5rem 2rem;background:#fff;border-radius:8px;box-shadow:0 1px 3px #0002}
h1{font-size:1.5rem;margin-top:0}
.note{background:#fff4d6;border-left:4px solid #9a6700;padding:.5rem .75rem}
fieldset{border:1px solid #8c959f;border-radius:6px;margin:1rem 0;padding:.75rem 1rem}
label{display:block;margin:.5rem 0 .25rem}
.check{display:flex;gap:.5rem;align-items:center;margin:.5rem 0}
.check label{margin:0}
input[type=date],input[type=number]{font:inherit;padding:.35rem;border:1px solid #57606a;border-radius:4px}
.actions{display:flex;gap:.75rem;flex-wrap:wrap;margin-top:1rem}
button{font:inherit;padding:.5rem 1.1rem;border-radius:6px;border:2px solid #1b1f24;background:#fff;color:#1b1f24;cursor:pointer}
button.primary{background:#1a7f37;border-color:#1a7f37;color:#fff}
button.danger{background:#b3261e;border-color:#b3261e;color:#fff}
button:focus-visible,input:focus-visible,a:focus-visible{outline:3px solid #0969da;outline-offset:2px}
`;

function layout(title: string, body: string): string {
  return renderHtmlDocument({ title, style: STYLE, main: body });
}

/** Input of {@link renderSessionPage}. */
export interface SessionPageInput {
  readonly sessionToken: string;
  readonly sessionId: string;
  readonly status: SessionStatus;
}

/**
 * The hosted verification page: the fake person, optional scenario inputs (date of birth, selfie age
 * estimate, AML hit, expired document, no document) and three submit buttons (Approve, Decline, Send to
 * review) posting to `/session/<token>/decide`. Contains no key, secret or vendor data.
 */
export function renderSessionPage(input: SessionPageInput): string {
  const action = `/session/${encodeURIComponent(input.sessionToken)}/decide`;
  return layout(
    'Verify your identity – Didit sandbox',
    `<h1>Verify your identity</h1>
<p class="note">This is the local Didit sandbox: no real documents or photos are checked. Choose the result to simulate.</p>
<p>Verifying <strong>${escapeHtml(SANDBOX_PERSON.fullName)}</strong> (session <code>${escapeHtml(input.sessionId)}</code>, status: ${escapeHtml(input.status)}).</p>
<form method="post" action="${escapeHtml(action)}">
<fieldset>
<legend>Test scenario (optional)</legend>
<label for="date_of_birth">Date of birth on the document</label>
<input type="date" id="date_of_birth" name="date_of_birth" value="${SANDBOX_PERSON.defaultDateOfBirth}">
<label for="age_estimation">Age estimated from the selfie, in years (leave empty to derive it)</label>
<input type="number" id="age_estimation" name="age_estimation" min="0" max="120" step="0.1" inputmode="decimal">
<div class="check"><input type="checkbox" id="aml_hit" name="aml_hit" value="on"><label for="aml_hit">AML screening finds a watch-list match</label></div>
<div class="check"><input type="checkbox" id="document_expired" name="document_expired" value="on"><label for="document_expired">Identity document is expired</label></div>
<div class="check"><input type="checkbox" id="no_document" name="no_document" value="on"><label for="no_document">No identity document (age from the selfie only)</label></div>
</fieldset>
<div class="actions">
<button type="submit" name="decision" value="approve" class="primary">Approve</button>
<button type="submit" name="decision" value="decline" class="danger">Decline</button>
<button type="submit" name="decision" value="review">Send to review</button>
</div>
</form>`,
  );
}

/** A page telling the user the flow ended (no callback) or cannot continue (already finished, expired). */
export function renderMessagePage(title: string, message: string): string {
  return layout(`${title} – Didit sandbox`, `<h1>${escapeHtml(title)}</h1>\n<p role="status">${escapeHtml(message)}</p>`);
}
