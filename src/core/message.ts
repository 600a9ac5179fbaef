/**
 * Papers → Discord message bodies within Discord's limits. Each paper is one embed; embeds are
 * packed greedily, in order, into as few messages as the limits allow: 10 embeds and 6000
 * characters of embed text per message, title 256, description 4096, field name 256, field value
 * 1024, footer 2048, author name 256, 25 fields. Lengths are counted in UTF-16 code units, which
 * is never less than Discord's count, so a body that fits here fits there.
 *
 * Nothing in a paper can ping: every body has `allowed_mentions: { parse: [] }` and mention
 * syntax in paper text is broken with a zero-width space.
 */
import type { Paper } from './paper.js';
import { clipWords, paperLinks } from './summary.js';

export const LIMITS = {
  embedsPerMessage: 10,
  totalChars: 6000,
  title: 256,
  description: 4096,
  fieldName: 256,
  fieldValue: 1024,
  footer: 2048,
  authorName: 256,
  fields: 25,
  content: 2000,
  threadName: 100,
} as const;

export interface DigestItem {
  paper: Paper;
  tldr?: string;
  /** Words to show in bold. */
  terms: string[];
  /** The queries of the subscriptions it matched. */
  subscriptionQueries: string[];
  kind: 'new' | 'update';
}

export interface DigestMeta {
  /** The query, or "your subscriptions". */
  title: string;
  /** YYYY-MM-DD. */
  date: string;
}

export interface Embed {
  title?: string;
  url?: string;
  description?: string;
  fields?: Array<{ name: string; value: string; inline?: boolean }>;
  footer?: { text: string };
  color?: number;
}

export type MessageBody = { content?: string; embeds?: Embed[]; allowed_mentions: { parse: [] } } & Record<
  string,
  unknown
>;

const ZWSP = '\u200b';

/** Breaks `@everyone`, `@here` and `<@…>` / `<#…>` mentions so they stay text. */
export function neutralizeMentions(text: string): string {
  return text.replace(/@(everyone|here)/gi, `@${ZWSP}$1`).replace(/<([@#][!&]?\d+)>/g, `<${ZWSP}$1>`);
}

/** Escapes Discord markdown so paper text shows as written. */
export function escapeMarkdown(text: string): string {
  return neutralizeMentions(text)
    .replace(/([\\*_~`|>#[\]()-])/g, '\\$1')
    .replace(/^(\d+)\./gm, '$1\\.');
}

/** Bolds whole words of `text` (already escaped) that are among `terms` or their simple plurals. */
export function boldTerms(escaped: string, terms: readonly string[]): string {
  const wanted = new Set<string>();
  for (const t of terms) {
    const w = t.toLowerCase();
    if (w.length < 2) continue;
    wanted.add(w);
  }
  if (wanted.size === 0) return escaped;
  // Words with escaped hyphens inside (multi\-task) count as one word.
  return escaped.replace(/[\p{L}\p{N}]+(?:\\-[\p{L}\p{N}]+)*/gu, (word) => {
    const plain = word.replace(/\\-/g, '-').toLowerCase();
    const singular = plain
      .replace(/(?:ies)$/, 'y')
      .replace(/(?<=[^aeo])es$/, 'e')
      .replace(/(?<=[^us])s$/, '');
    const hit = wanted.has(plain) || wanted.has(singular) || wanted.has(plain.replace(/-/g, ''));
    return hit ? `**${word}**` : word;
  });
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : clipWords(text, max);
}

/** "A, B, C … +12", within `max`. */
export function shortAuthors(authors: readonly string[], max = 200): string {
  if (authors.length === 0) return '';
  const shown: string[] = [];
  for (const [i, a] of authors.entries()) {
    const rest = authors.length - i - 1;
    const candidate = [...shown, a].join(', ') + (rest > 0 ? ` … +${rest}` : '');
    if (candidate.length > max || shown.length >= 6) break;
    shown.push(a);
  }
  const rest = authors.length - shown.length;
  if (shown.length === 0) return clip(authors[0] as string, max - 10) + (rest > 1 ? ` … +${rest - 1}` : '');
  return shown.join(', ') + (rest > 0 ? ` … +${rest}` : '');
}

/** Embed text that counts towards the 6000-character message budget. */
export function embedLength(e: Embed): number {
  let n = (e.title?.length ?? 0) + (e.description?.length ?? 0) + (e.footer?.text.length ?? 0);
  for (const f of e.fields ?? []) n += f.name.length + f.value.length;
  return n;
}

/** One paper's embed, every part within its limit. */
export function paperEmbed(item: DigestItem): Embed {
  const p = item.paper;
  const prefix = item.kind === 'update' ? '🔄 ' : '';
  const title = clip(prefix + escapeMarkdown(p.title.replace(/\s+/g, ' ').trim()), LIMITS.title);
  const url = p.links.abs ?? p.links.hf;
  const tldr = item.tldr ?? '';
  const description = clip(boldTerms(escapeMarkdown(tldr), item.terms), LIMITS.description);
  const fields: NonNullable<Embed['fields']> = [];
  const authors = shortAuthors(
    p.authors.map((a) => escapeMarkdown(a)),
    300,
  );
  if (authors) fields.push({ name: 'Authors', value: clip(authors, LIMITS.fieldValue), inline: false });
  const links = paperLinks(p)
    .filter((l) => l.label !== 'arXiv' && l.label !== 'Page')
    .map((l) => `[${l.label}](${l.url})`);
  let linkText = '';
  for (const l of links) {
    const next = linkText ? `${linkText} · ${l}` : l;
    if (next.length > LIMITS.fieldValue) break;
    linkText = next;
  }
  if (linkText) fields.push({ name: 'Links', value: linkText, inline: false });
  const footerParts = [
    item.subscriptionQueries.length > 0 ? `matched: ${item.subscriptionQueries.join(' · ')}` : '',
    p.arxivId ? `arXiv:${p.arxivId}${p.version ? `v${p.version}` : ''}` : '',
    p.categories.slice(0, 4).join(' '),
    item.kind === 'update' ? 'updated' : '',
  ].filter((s) => s !== '');
  const embed: Embed = { title, color: item.kind === 'update' ? 0xf1c40f : 0xb31b1b };
  if (url) embed.url = url;
  if (description) embed.description = description;
  if (fields.length > 0) embed.fields = fields;
  if (footerParts.length > 0)
    embed.footer = { text: clip(neutralizeMentions(footerParts.join(' — ')), LIMITS.footer) };
  return shrinkToBudget(embed, LIMITS.totalChars);
}

/** Trims the longest parts until the embed fits `budget` characters on its own. */
function shrinkToBudget(e: Embed, budget: number): Embed {
  let over = embedLength(e) - budget;
  if (over <= 0) return e;
  const out: Embed = { ...e };
  if (out.description && over > 0) {
    const keep = Math.max(0, out.description.length - over);
    out.description = keep > 20 ? clip(out.description, keep) : '…';
    over = embedLength(out) - budget;
  }
  if (out.footer && over > 0) {
    out.footer = { text: clip(out.footer.text, Math.max(20, out.footer.text.length - over)) };
  }
  return out;
}

/** Packs items into message bodies in order; each body lists the item indexes it carries. */
export function packDigest(
  items: readonly DigestItem[],
  _meta: DigestMeta,
): Array<{ body: MessageBody; itemIndexes: number[] }> {
  const out: Array<{ body: MessageBody; itemIndexes: number[] }> = [];
  let embeds: Embed[] = [];
  let indexes: number[] = [];
  let chars = 0;
  const flush = () => {
    if (embeds.length === 0) return;
    out.push({ body: { embeds, allowed_mentions: { parse: [] } }, itemIndexes: indexes });
    embeds = [];
    indexes = [];
    chars = 0;
  };
  for (const [i, item] of items.entries()) {
    const embed = paperEmbed(item);
    const n = embedLength(embed);
    if (embeds.length === LIMITS.embedsPerMessage || chars + n > LIMITS.totalChars) flush();
    embeds.push(embed);
    indexes.push(i);
    chars += n;
  }
  flush();
  return out;
}

/** The message that opens a digest's thread, and the thread's name. */
export function digestHeader(meta: DigestMeta, count: number): { content: string; threadName: string } {
  const what = `${count} new paper${count === 1 ? '' : 's'} for ${meta.title}`;
  const content = clip(`📰 ${neutralizeMentions(what)} — ${meta.date}`, LIMITS.content);
  const threadName = clip(`${what} — ${meta.date}`.replace(/[\r\n]+/g, ' '), LIMITS.threadName);
  return { content, threadName };
}

/** The closing notice of a capped digest. */
export function moreNotice(remaining: number, hint: string): string {
  return clip(
    neutralizeMentions(`…and ${remaining} more match${remaining === 1 ? '' : 'es'}: ${hint}`),
    LIMITS.content,
  );
}
