/**
 * Masking of secrets and personal data in log lines: the same rules, in the same order,
 * as otel_llm/logs.py (REDACTION_RULES, SECRET_KEY_PATTERN, CONTENT_KEY_PATTERN), tested by
 * the shared vectors spec/vectors/redaction.json. The patterns are ASCII-only and avoid
 * `\s` and inline flags so that they read the same in both languages.
 */

export const REDACTED = '[REDACTED]';
export const REDACTED_CONTENT = '[REDACTED:content]';

/** [name, pattern, case-insensitive, replacement], applied in order. */
export const REDACTION_RULES: ReadonlyArray<readonly [string, string, boolean, string]> = [
  ['url_credentials', String.raw`\b([A-Za-z][A-Za-z0-9+.-]*://)[^\t\n\v\f\r /?#@]+@`, false, '$1[REDACTED]@'],
  [
    'secret_assignment',
    String.raw`\b((?:[A-Za-z0-9]+[_-])*(?:api[_-]?key|token|secret|password|passwd|authorization|credentials?))(["']?[\t ]*[:=][\t ]*["']?)(?:(?:bearer|basic|token)[\t ]+)?[^\t\n\v\f\r "',;&<>(){}\[\]]+`,
    true,
    '$1$2[REDACTED]',
  ],
  [
    'api_key',
    String.raw`\b(?:sk-[A-Za-z0-9_-]{16,}|sk_(?:live|test)_[A-Za-z0-9]{16,}|AIza[A-Za-z0-9_-]{35}|AKIA[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|hf_[A-Za-z0-9]{30,}|xox[abposr]-[A-Za-z0-9-]{10,})`,
    false,
    '[REDACTED:api_key]',
  ],
  ['bearer', String.raw`\b(bearer)[\t ]+[A-Za-z0-9._~+/=-]{8,}`, true, '$1 [REDACTED:token]'],
  ['jwt', String.raw`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*`, false, '[REDACTED:token]'],
  [
    'email',
    String.raw`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b`,
    false,
    '[REDACTED:email]',
  ],
  ['phone_international', String.raw`\+(?<![\w+]\+)[1-9](?:[ .-]?\(?\d\)?){6,14}(?!\w)`, false, '[REDACTED:phone]'],
  [
    'phone_nanp',
    String.raw`(?<![\w.+/-])(?:1[ .-])?(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[.-]\d)`,
    false,
    '[REDACTED:phone]',
  ],
  [
    'phone_trunk_prefix',
    String.raw`0(?<![\w.+/-]0)(?=(?:[ -]?\d){8,10}(?!\d))\d{1,4}(?:[ -]\d{2,8}){1,4}(?!\w|[:.]\d|[ -]\d)`,
    false,
    '[REDACTED:phone]',
  ],
];

/** Matched against the key lower-cased with `-` turned into `_`; the value is masked whole. */
export const SECRET_KEY_PATTERN = String.raw`(?:^|[_.])(?:api_?key|token|secret|password|passwd|authorization|credentials?|cookie|private_?key)$`;
/** Keys holding prompts or completions: masked whole unless content capture is on. */
export const CONTENT_KEY_PATTERN = String.raw`^(?:gen_ai\.)?(?:(?:input|output)[._])?(?:prompts?|messages|content|completions?|system_prompt|system_instructions)$`;

// Cheap exact preconditions: a rule cannot match a text failing its gate.
const SECRET_WORDS = ['key', 'token', 'secret', 'passw', 'authorization', 'credential'];
const API_KEY_PREFIXES = ['sk-', 'sk_', 'AIza', 'AKIA', 'gh', 'hf_', 'xox'];
const NANP_CORE = /\d{3}[ .-]\d{4}/;
const GATES: Record<string, (t: string, low: string) => boolean> = {
  url_credentials: t => t.includes('://'),
  secret_assignment: (t, low) => (t.includes('=') || t.includes(':')) && SECRET_WORDS.some(w => low.includes(w)),
  api_key: t => API_KEY_PREFIXES.some(p => t.includes(p)),
  bearer: (_t, low) => low.includes('bearer'),
  jwt: t => t.includes('eyJ'),
  email: t => t.includes('@'),
  phone_international: t => t.includes('+'),
  phone_nanp: t => NANP_CORE.test(t),
  phone_trunk_prefix: t => t.includes('0'),
};

const RULES = REDACTION_RULES.map(([name, pattern, nocase, replacement]) => ({
  regex: new RegExp(pattern, nocase ? 'gi' : 'g'),
  replacement,
  gate: GATES[name]!,
}));
const SECRET_KEY_RE = new RegExp(SECRET_KEY_PATTERN);
const CONTENT_KEY_RE = new RegExp(CONTENT_KEY_PATTERN);

/** `text` with API keys, tokens, e-mail addresses and phone numbers masked. */
export function redactText(text: string): string {
  let low = text.toLowerCase();
  for (const { regex, replacement, gate } of RULES) {
    if (!gate(text, low)) continue;
    regex.lastIndex = 0;
    const next = text.replace(regex, replacement);
    if (next !== text) {
      text = next;
      low = text.toLowerCase();
    }
  }
  return text;
}

function normalKey(key: string): string {
  return key.toLowerCase().replace(/-/g, '_');
}

/** True for keys like `authorization`, `api_key`, `db_password`, `access_token`. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY_RE.test(normalKey(key));
}

/** True for keys that hold prompts or completions (`prompt`, `messages`...). */
export function isContentKey(key: string): boolean {
  return CONTENT_KEY_RE.test(normalKey(key));
}

/** Fields the logger fills from validated values: never rewritten. */
export const OWN_FIELDS: ReadonlySet<string> = new Set([
  'timestamp',
  'level',
  'logger',
  'service',
  'request_id',
  'trace_id',
  'span_id',
]);
const MAX_DEPTH = 8;

/** Masks secrets and personal data in every value of a log record (copies, never mutates). */
export class Redactor {
  private readonly keyCache = new Map<string, string | null>();

  constructor(readonly captureContent = false) {}

  keyMask(key: string): string | null {
    let mask = this.keyCache.get(key);
    if (mask === undefined) {
      mask = isSecretKey(key) ? REDACTED : !this.captureContent && isContentKey(key) ? REDACTED_CONTENT : null;
      if (this.keyCache.size < 4096) this.keyCache.set(key, mask);
    }
    return mask;
  }

  value(value: unknown, depth = 0): unknown {
    if (typeof value === 'string') return redactText(value);
    if (value === null || value === undefined || typeof value === 'number' || typeof value === 'boolean') return value;
    if (typeof value === 'bigint') return value;
    if (depth < MAX_DEPTH) {
      if (Array.isArray(value)) return value.map(v => this.value(v, depth + 1));
      if (value instanceof Error) {
        return { type: value.name, message: redactText(value.message), stack: value.stack && redactText(value.stack) };
      }
      if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
        return this.mapping(value as Record<string, unknown>, depth + 1);
      }
    }
    return redactText(String(value));
  }

  mapping(obj: Record<string, unknown>, depth = 0): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(obj)) {
      const mask = this.keyMask(key);
      out[key] = mask ?? this.value(v, depth);
    }
    return out;
  }

  /** A log record: own fields kept as they are, everything else masked. */
  record(obj: Record<string, unknown>): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(obj)) {
      if (OWN_FIELDS.has(key)) {
        out[key] = v;
        continue;
      }
      const mask = this.keyMask(key);
      out[key] = mask ?? this.value(v, 0);
    }
    return out;
  }
}
