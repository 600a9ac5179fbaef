/**
 * Papers → Discord message payloads, within every limit Discord enforces.
 *
 * Pure: returns plain `RESTPostAPIChannelMessageJSONBody` objects; the poster sends them.
 *
 * Counting: Discord's API is written in Python and counts string lengths in Unicode code points
 * (discord/discord-api-docs#1315). We count UTF-16 code units (`String#length`), which is never
 * less than the code-point count, so anything we accept Discord accepts; the price is that an
 * emoji costs two of our units for one of Discord's. Text is only ever cut between code points
 * (no half emoji), and markdown is escaped before it is measured, so the escapes count too.
 */
import type { APIEmbed, APIEmbedField, RESTPostAPIChannelMessageJSONBody } from 'discord-api-types/v10';
import { hash64, type Paper } from './paper.js';
import { paperLinks, summarize, truncateAtWord } from './summary.js';

/** Discord's message and embed limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits). */
export const DISCORD_LIMITS = {
  content: 2000,
  embedsPerMessage: 10,
  /** Sum of title, description, field names and values, footer text and author name over all embeds of a message. */
  embedTotal: 6000,
  title: 256,
  description: 4096,
  fields: 25,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  authorName: 256,
  threadName: 100,
  nonce: 25,
} as const;

/** One paper to post, as the outbox hands it over. */
export interface DigestItem {
  paper: Paper;
  /** The TL;DR; computed from the abstract when absent. */
  tldr?: string;
  /** Matched words to show in bold (as the matcher reports them: folded words, phrases, `prefix*`). */
  terms: string[];
  /** The queries of the subscriptions that matched, best first. */
  subscriptionQueries: string[];
  /** `update` when a followed paper got a new version or abstract. */
  kind: 'new' | 'update';
}

/** What a digest is about. */
export interface DigestMeta {
  /** The subscription query, or a description such as "your subscriptions". */
  title: string;
  /** The digest's date, `YYYY-MM-DD`. */
  date?: string;
}

/** Options for {@link packDigest} and {@link renderPaperEmbed}. */
export interface PackOptions {
  /** Text for the first message's `content`. */
  lead?: string;
  /** Put {@link digestHeader}'s text in the first message's `content` (when no thread is opened and no `lead` is given). */
  header?: boolean;
  /** At most this many embeds per message (1–10, default 10). */
  maxEmbedsPerMessage?: number;
  /** At most this many embed characters per message (default and maximum 6000). */
  maxEmbedChars?: number;
  /** When set, every body gets `nonce = payloadNonce(body, nonceScope)` and `enforce_nonce: true`. */
  nonceScope?: string;
  /** Budget for the authors field (default 300, at most 1024). */
  authorsMaxChars?: number;
  /** Most author names listed before "… +N" (default 8). */
  maxAuthors?: number;
}

/** One message to send and the digest items it carries (to mark exactly those deliveries done). */
export interface MessagePayload {
  body: RESTPostAPIChannelMessageJSONBody;
  itemIndexes: number[];
}

/** Embed colours: new papers, updates. */
export const COLORS = { new: 0x3b82f6, update: 0xf59e0b } as const;

const ZWSP = '\u200b';

// ---------------------------------------------------------------------------------------------
// Escaping

/**
 * Makes `@everyone`, `@here` and user/role mentions (`<@id>`, `<@!id>`, `<@&id>`) inert by
 * putting a zero-width space after the `@`. `allowed_mentions` already stops pings; this keeps
 * the text from even looking like a mention, wherever it ends up.
 */
export function neutralizeMentions(text: string): string {
  return text.replace(/@(everyone|here)/gi, `@${ZWSP}$1`).replace(/<@(?!\u200b)/g, `<@${ZWSP}`);
}

const URL_SPAN = /\bhttps?:\/\/[^\s<>"'[\]()]+/gi;
const INLINE_SPECIAL = /[\\*_~`|[\]]/g;

/** Escapes Discord markdown in plain text (without touching mentions or URLs). */
function escapeInline(text: string): string {
  return text.replace(INLINE_SPECIAL, '\\$&');
}

/** Escapes what only means something at the start of a line: headings, quotes, lists, `-#`. */
function escapeLineStart(text: string): string {
  return text.replace(/^(\s*)([#>+-])/gm, '$1\\$2').replace(/^(\s*\d+)([.)])/gm, '$1\\$2');
}

/**
 * Text shown literally by Discord: bold/italic/underline/strike/spoiler/code markers, masked
 * links, headings, quotes and list markers escaped with a backslash; mentions neutralised.
 * URLs are kept as they are (Discord links them before it looks for markdown inside).
 */
export function escapeMarkdown(text: string): string {
  return renderText(text, []);
}

// ---------------------------------------------------------------------------------------------
// Highlighting

/**
 * Harman's S-stemmer, as the query language folds plurals: `-ies`→`-y` (not after e or a),
 * `-es`→`-e` (not after a, e or o), `-s`→`` (not after u or s); first rule that applies.
 */
export function foldWord(word: string): string {
  const w = lowerNfkc(word);
  if (w.length > 3 && w.endsWith('ies')) {
    if (!/[ea]ies$/.test(w)) return `${w.slice(0, -3)}y`;
  }
  if (w.length > 2 && w.endsWith('es')) {
    if (!/[aeo]es$/.test(w)) return w.slice(0, -1);
  }
  if (w.length > 1 && w.endsWith('s') && !/[us]s$/.test(w)) return w.slice(0, -1);
  return w;
}

/** NFKC + lower case; ASCII (most of every abstract) needs only the lower-casing. */
function lowerNfkc(text: string): string {
  return NON_ASCII.test(text) ? text.normalize('NFKC').toLowerCase() : text.toLowerCase();
}
const NON_ASCII = /[^\p{ASCII}]/u;

interface Token {
  start: number;
  end: number;
  fold: string;
  lower: string;
}

interface Matcher {
  /** Folded words of the term, matched as consecutive words. */
  words: string[];
  /** The words joined ("multitask"), matched against a hyphen compound or one word. */
  joined: string;
  prefix?: string;
}

function compileTerms(terms: readonly string[]): Matcher[] {
  const out: Matcher[] = [];
  for (const raw of terms) {
    const t = raw.trim().replace(/^"|"$/g, '');
    if (t === '' || /^\/.*\/i?$/.test(t)) continue;
    if (t.endsWith('*')) {
      const prefix = t.slice(0, -1).normalize('NFKC').toLowerCase();
      if (/^[\p{L}\p{N}]+$/u.test(prefix)) out.push({ words: [], joined: '', prefix });
      continue;
    }
    const parts = t.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
    if (parts.length === 0) continue;
    const words = parts.map(foldWord);
    out.push({ words, joined: foldWord(parts.join('')) });
  }
  return out;
}

/** [start, end) spans of `text` to bold: whole words, phrases and hyphen compounds. */
function highlightSpans(text: string, matchers: readonly Matcher[]): Array<[number, number]> {
  if (matchers.length === 0) return [];
  const tokens: Token[] = [];
  for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) {
    const lower = lowerNfkc(m[0]);
    tokens.push({ start: m.index, end: m.index + m[0].length, fold: foldWord(lower), lower });
  }
  const spans: Array<[number, number]> = [];
  // Hyphen compounds: maximal runs of words joined by single hyphens, e.g. multi-task.
  const compounds: Array<{ from: number; to: number; fold: string }> = [];
  for (let i = 0; i < tokens.length; ) {
    let j = i;
    while (j + 1 < tokens.length) {
      const a = tokens[j] as Token;
      const b = tokens[j + 1] as Token;
      if (b.start - a.end === 1 && /[-\u2010\u2011]/.test(text[a.end] ?? '')) j++;
      else break;
    }
    if (j > i) {
      const joined = tokens
        .slice(i, j + 1)
        .map((t) => t.lower)
        .join('');
      compounds.push({ from: i, to: j, fold: foldWord(joined) });
    }
    i = j + 1;
  }
  for (const m of matchers) {
    if (m.prefix !== undefined) {
      for (const t of tokens) if (t.lower.startsWith(m.prefix)) spans.push([t.start, t.end]);
      continue;
    }
    const n = m.words.length;
    for (let i = 0; i + n <= tokens.length; i++) {
      let ok = true;
      for (let k = 0; k < n && ok; k++) ok = tokens[i + k]?.fold === m.words[k];
      if (ok) spans.push([(tokens[i] as Token).start, (tokens[i + n - 1] as Token).end]);
    }
    if (n > 1) for (const t of tokens) if (t.fold === m.joined) spans.push([t.start, t.end]);
    for (const c of compounds) {
      if (c.fold === m.joined) spans.push([(tokens[c.from] as Token).start, (tokens[c.to] as Token).end]);
    }
  }
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged: Array<[number, number]> = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    // Touching spans merge too: "**multi****task**" would not render as bold.
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  return merged;
}

/**
 * Plain text → safe Discord markdown with the matched words in bold. The paper's own text is
 * escaped piece by piece and the bold markers are ours, so no text in a paper can open or
 * close a marker. URLs are neither escaped nor highlighted: Discord's autolink takes
 * everything from `http(s)://` to the next space or `<` before any markdown rule looks at it
 * (so markers inside a URL are inert), and a backslash or `**` inside one would break the link.
 */
export function renderText(text: string, terms: readonly string[]): string {
  const matchers = compileTerms(terms);
  let out = '';
  let last = 0;
  const prose = (s: string): string => {
    const spans = highlightSpans(s, matchers);
    let r = '';
    let at = 0;
    for (const [a, b] of spans) {
      r += `${escapeInline(s.slice(at, a))}**${escapeInline(s.slice(a, b))}**`;
      at = b;
    }
    return r + escapeInline(s.slice(at));
  };
  for (const m of text.matchAll(URL_SPAN)) {
    out += prose(text.slice(last, m.index)) + m[0];
    last = m.index + m[0].length;
  }
  out += prose(text.slice(last));
  return neutralizeMentions(escapeLineStart(out));
}

/** Renders `text` within `limit`: whole when it fits, else cut at a word boundary with "…". */
export function fitText(text: string, limit: number, render: (s: string) => string = (s) => s): string {
  if (limit <= 0) return '';
  const whole = render(text);
  if (whole.length <= limit) return whole;
  // The rendered length grows with the raw prefix (escapes only add), so search the raw cut.
  let lo = 0;
  let hi = Math.min(text.length, limit);
  let best = '';
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const candidate = mid === 0 ? '' : render(truncateAtWord(text, mid));
    if (candidate.length <= limit) {
      best = candidate;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  // Only candidates that were measured to fit are kept. Highlighting is not strictly monotonic
  // (a cut phrase loses its bold), so the longest fitting cut may be missed by a few
  // characters, never exceeded.
  return best;
}

// ---------------------------------------------------------------------------------------------
// One paper → one embed

/**
 * "Ada Lovelace, Alan Turing, … +12": as many names as fit in `maxChars` (and at most
 * `maxNames`), the rest counted. Names are escaped.
 */
export function formatAuthors(authors: readonly string[], maxChars = 300, maxNames = 8): string {
  const names = authors.map((a) => escapeMarkdown(a.replace(/\s+/g, ' ').trim())).filter((a) => a !== '');
  if (names.length === 0) return '';
  let shown: string[] = [];
  for (let k = Math.min(names.length, maxNames); k >= 1; k--) {
    shown = names.slice(0, k);
    const line = joinAuthors(shown, names.length - k);
    if (line.length <= maxChars) return line;
  }
  // Even one name is too long: cut it.
  const rest = names.length - 1;
  const suffix = rest > 0 ? `, … +${rest}` : '';
  const first = authors.find((a) => a.trim() !== '') ?? '';
  const cut = fitText(first.replace(/\s+/g, ' ').trim(), maxChars - suffix.length, escapeMarkdown);
  return cut === '' ? '' : cut + suffix;
}

function joinAuthors(shown: readonly string[], rest: number): string {
  return rest > 0 ? `${shown.join(', ')}, … +${rest}` : shown.join(', ');
}

/**
 * Masked-link URLs must not contain what ends the link (`(`, `)`, whitespace, `<`, `>`); `@`
 * is encoded too, so no text anywhere in a post reads as `@everyone`.
 */
function linkUrl(url: string): string {
  return url.replace(/[()\s<>@]/g, (c) => encodeURIComponent(c));
}

interface EmbedLimits {
  title: number;
  description: number;
  authors: number;
  links: number;
  footer: number;
}

/**
 * The embed of one paper: the title (escaped, linking to the arXiv or HF page), the TL;DR with
 * the matched words in bold (an update is labelled), the authors, the links and a footer with
 * the matching subscriptions and the arXiv id. Shrunk to `maxEmbedChars` (6000) if it would
 * exceed it alone: description first, then footer, authors, links, title.
 */
export function renderPaperEmbed(item: DigestItem, opts: PackOptions = {}): APIEmbed {
  const budget = clamp(opts.maxEmbedChars ?? DISCORD_LIMITS.embedTotal, 1, DISCORD_LIMITS.embedTotal);
  const limits: EmbedLimits = {
    title: DISCORD_LIMITS.title,
    description: DISCORD_LIMITS.description,
    authors: clamp(opts.authorsMaxChars ?? 300, 1, DISCORD_LIMITS.fieldValue),
    links: DISCORD_LIMITS.fieldValue,
    footer: DISCORD_LIMITS.footer,
  };
  let embed = buildEmbed(item, limits, opts.maxAuthors ?? 8);
  const order: Array<keyof EmbedLimits> = ['description', 'footer', 'authors', 'links', 'title'];
  for (const part of order) {
    const over = embedLength(embed) - budget;
    if (over <= 0) break;
    limits[part] = Math.max(0, partLength(embed, part) - over);
    embed = buildEmbed(item, limits, opts.maxAuthors ?? 8);
  }
  return embed;
}

function partLength(embed: APIEmbed, part: keyof EmbedLimits): number {
  switch (part) {
    case 'title':
      return embed.title?.length ?? 0;
    case 'description':
      return embed.description?.length ?? 0;
    case 'footer':
      return embed.footer?.text.length ?? 0;
    case 'authors':
      return embed.fields?.find((f) => f.name.startsWith('Author'))?.value.length ?? 0;
    case 'links':
      return embed.fields?.find((f) => f.name === 'Links')?.value.length ?? 0;
  }
}

function buildEmbed(item: DigestItem, limits: EmbedLimits, maxAuthors: number): APIEmbed {
  const { paper } = item;
  const links = paperLinks(paper);
  const main =
    links.find((l) => l.label === 'arXiv' || l.label === 'Page') ?? links.find((l) => l.label === 'HF');

  const embed: APIEmbed = {};
  const rawTitle = paper.title.replace(/\s+/g, ' ').trim() || '(untitled)';
  const title = fitText(rawTitle, limits.title, escapeMarkdown);
  if (title !== '') embed.title = title;
  if (main) embed.url = main.url;

  const tldr = (item.tldr ?? summarize(paper.abstract)).replace(/\s+/g, ' ').trim();
  const label = item.kind === 'update' ? `🔄 **Updated**${paper.version ? ` (v${paper.version})` : ''}` : '';
  const room = limits.description - (label && tldr ? label.length + 1 : label.length);
  const body = room > 0 ? fitText(tldr, room, (s) => renderText(s, item.terms)) : '';
  const description = [label, body].filter((s) => s !== '').join('\n');
  if (description !== '' && description.length <= limits.description) embed.description = description;

  const fields: APIEmbedField[] = [];
  const authors = formatAuthors(paper.authors, limits.authors, maxAuthors);
  if (authors !== '')
    fields.push({ name: paper.authors.length === 1 ? 'Author' : 'Authors', value: authors });
  let linkLine = '';
  for (const l of links) {
    if (l === main) continue;
    const piece = `[${escapeMarkdown(l.label)}](${linkUrl(l.url)})`;
    const next = linkLine === '' ? piece : `${linkLine} · ${piece}`;
    if (next.length > limits.links) continue;
    linkLine = next;
  }
  if (linkLine !== '') fields.push({ name: 'Links', value: linkLine });
  if (fields.length > 0) embed.fields = fields;

  const footer = footerText(item, limits.footer);
  if (footer !== '') embed.footer = { text: footer };
  embed.color = COLORS[item.kind];
  return embed;
}

/** "update · multi-task | moe · arXiv:2411.17700v2 · cs.LG cs.AI" within `limit`; footers show no markdown. */
function footerText(item: DigestItem, limit: number): string {
  const { paper } = item;
  const tail: string[] = [];
  if (paper.arxivId) tail.push(`arXiv:${paper.arxivId}${paper.version ? `v${paper.version}` : ''}`);
  if (paper.categories.length > 0) tail.push(paper.categories.slice(0, 3).join(' '));
  const head = item.kind === 'update' ? 'update · ' : '';
  const queries = item.subscriptionQueries.map((q) => q.replace(/\s+/g, ' ').trim()).filter((q) => q !== '');
  const q = queries.length > 0 ? `matched: ${queries.join(' | ')}` : '';
  const tailText = neutralizeMentions(tail.join(' · '));
  const sep = q !== '' && tailText !== '' ? ' · ' : '';
  const room = limit - head.length - sep.length - tailText.length;
  // The queries give way first: the id and categories are short and identify the paper.
  if (room >= 0) {
    const fitted = fitText(q, room, neutralizeMentions);
    return fitted === '' ? `${head}${tailText}` : `${head}${fitted}${sep}${tailText}`;
  }
  return fitText(head + q + sep + tailText, limit, neutralizeMentions);
}

/**
 * The characters Discord counts towards an embed's share of the 6000 budget: title,
 * description, field names and values, footer text, author name.
 */
export function embedLength(embed: APIEmbed): number {
  let n = (embed.title?.length ?? 0) + (embed.description?.length ?? 0);
  for (const f of embed.fields ?? []) n += f.name.length + f.value.length;
  return n + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
}

// ---------------------------------------------------------------------------------------------
// Packing

/**
 * Packs a digest's papers, one embed each, into as few messages as Discord allows, in the
 * given order (the caller sorts by score): each message carries at most 10 embeds and 6000
 * embed characters. Next-fit is optimal here because the order is kept: a message is closed
 * only when the next embed does not fit. Every message has `allowed_mentions: { parse: [] }`.
 * Output is deterministic: the same items give byte-identical bodies.
 */
export function packDigest(
  items: readonly DigestItem[],
  meta: DigestMeta,
  opts: PackOptions = {},
): MessagePayload[] {
  const maxEmbeds = clamp(opts.maxEmbedsPerMessage ?? DISCORD_LIMITS.embedsPerMessage, 1, 10);
  const maxChars = clamp(opts.maxEmbedChars ?? DISCORD_LIMITS.embedTotal, 1, DISCORD_LIMITS.embedTotal);
  const lead =
    opts.lead ??
    (opts.header
      ? digestHeader(meta, {
          new: items.filter((i) => i.kind === 'new').length,
          update: items.filter((i) => i.kind === 'update').length,
        }).content
      : undefined);
  const out: MessagePayload[] = [];
  let embeds: APIEmbed[] = [];
  let indexes: number[] = [];
  let chars = 0;
  const flush = (): void => {
    if (embeds.length === 0) return;
    out.push({ body: messageBody(out.length === 0 ? lead : undefined, embeds, opts), itemIndexes: indexes });
    embeds = [];
    indexes = [];
    chars = 0;
  };
  items.forEach((item, i) => {
    const embed = renderPaperEmbed(item, { ...opts, maxEmbedChars: maxChars });
    const size = embedLength(embed);
    if (embeds.length >= maxEmbeds || chars + size > maxChars) flush();
    embeds.push(embed);
    indexes.push(i);
    chars += size;
  });
  flush();
  if (out.length === 0 && lead) out.push({ body: messageBody(lead, [], opts), itemIndexes: [] });
  return out;
}

function messageBody(
  lead: string | undefined,
  embeds: APIEmbed[],
  opts: PackOptions,
): RESTPostAPIChannelMessageJSONBody {
  const body: RESTPostAPIChannelMessageJSONBody = {};
  if (lead) body.content = fitContent(lead);
  if (embeds.length > 0) body.embeds = embeds;
  body.allowed_mentions = { parse: [] };
  if (opts.nonceScope !== undefined) {
    body.nonce = payloadNonce(body, opts.nonceScope);
    body.enforce_nonce = true;
  }
  return body;
}

function fitContent(text: string): string {
  const t = neutralizeMentions(text);
  return t.length <= DISCORD_LIMITS.content ? t : fitText(t, DISCORD_LIMITS.content);
}

/** A plain text message that cannot ping anyone (content neutralised and cut to 2000). */
export function textMessage(content: string): RESTPostAPIChannelMessageJSONBody {
  return { content: fitContent(content), allowed_mentions: { parse: [] } };
}

/**
 * A nonce (≤ 25 characters, as Discord allows) that is the same for the same body and scope:
 * a retry after a crash sends the same nonce and, with `enforce_nonce`, cannot post twice.
 * Pass the target as `scope` so equal posts to two channels get different nonces. Any
 * `nonce`/`enforce_nonce` already in the body is ignored.
 */
export function payloadNonce(body: RESTPostAPIChannelMessageJSONBody, scope = ''): string {
  const { nonce: _n, enforce_nonce: _e, ...rest } = body;
  const json = canonicalJson(rest);
  // Two independent 64-bit hashes (of the text and of it salted) make accidental repeats of
  // a nonce within Discord's few-minute window practically impossible.
  return `pb${hash64(`${scope}\n${json}`)}${hash64(`${json}\n${scope}`).slice(0, 7)}`;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------
// Headers and notices

/**
 * The message that opens a digest thread and the thread's name (≤ 100 characters):
 * "📰 23 new papers for multi-task — 2026-11-22". Updates are counted separately when given.
 * The query is escaped in the message (it is markdown) and cut first when the name is long.
 */
export function digestHeader(
  meta: DigestMeta,
  count: number | { new: number; update: number },
): { content: string; threadName: string } {
  const counts = typeof count === 'number' ? { new: count, update: 0 } : count;
  const parts: string[] = [];
  if (counts.new > 0 || counts.update === 0) parts.push(`${counts.new} new ${plural(counts.new, 'paper')}`);
  if (counts.update > 0) parts.push(`${counts.update} ${plural(counts.update, 'update')}`);
  const what = `📰 ${parts.join(' and ')}`;
  const date = meta.date ? ` — ${meta.date}` : '';
  const title = meta.title.replace(/\s+/g, ' ').trim();
  const forWhat = title === '' ? '' : ' for ';
  const contentRoom = DISCORD_LIMITS.content - what.length - forWhat.length - date.length;
  const content = `${what}${forWhat}${fitText(title, contentRoom, escapeMarkdown)}${date}`;
  const nameRoom = DISCORD_LIMITS.threadName - what.length - forWhat.length - date.length;
  let threadName = `${what}${forWhat}${fitText(title, nameRoom)}${date}`;
  if (threadName.length > DISCORD_LIMITS.threadName)
    threadName = fitText(threadName, DISCORD_LIMITS.threadName);
  return { content: neutralizeMentions(content), threadName: neutralizeMentions(threadName) };
}

/**
 * The line that ends a capped digest, so no match disappears silently:
 * "…and 12 more: use `/paper search multi-task`".
 */
export function moreNotice(remaining: number, howToSee?: string): string {
  const head = `…and ${remaining} more ${plural(remaining, 'paper')}`;
  const how = howToSee?.replace(/\s+/g, ' ').trim();
  if (!how) return `${head}.`;
  const room = DISCORD_LIMITS.content - head.length - 8;
  const shown = how.includes('`') ? fitText(how, room, escapeMarkdown) : `\`${fitText(how, room - 2)}\``;
  return neutralizeMentions(`${head}: use ${shown}`);
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Math.floor(n)));
}
