/**
 * The slash commands: their definitions (registered at start-up) and their handlers. Handlers
 * throw {@link UserError} for anything the person can fix; the dispatcher turns it into an
 * ephemeral reply. Anything else is logged and answered with a short apology and a reference.
 */
import {
  ActionRowBuilder,
  type AutocompleteInteraction,
  ButtonBuilder,
  type ButtonInteraction,
  ButtonStyle,
  type ChatInputCommandInteraction,
  type Interaction,
  MessageFlags,
  PermissionFlagsBits,
  type RESTPostAPIChatInputApplicationCommandsJSONBody,
  SlashCommandBuilder,
} from 'discord.js';
import type { Logger } from 'pino';
import { packDigest } from '../core/message.js';
import { hash64, type Paper } from '../core/paper.js';
import {
  type DeliveryMode,
  normalizeQueryText,
  type Subscription,
  subscriptionId,
  type Target,
  type TargetSettings,
  targetKey,
} from '../core/subscription.js';
import { summarize } from '../core/summary.js';
import { subscribe } from '../pipeline/cycle.js';
import { compileQuery, type PaperLibrary, QueryError } from '../pipeline/library.js';
import { findPaper } from '../pipeline/lookup.js';
import type { Store } from '../store/types.js';

/** Something the person can fix: shown to them as it is. */
export class UserError extends Error {
  override readonly name = 'UserError';
}

export interface CommandSettings {
  /** `/subscribe` previews matches first seen in this many days. */
  previewDays: number;
  /** A new subscription's first digest includes matches first seen this many hours ago. */
  backfillHours: number;
  /** Results per page of `/paper search`. */
  pageSize: number;
  defaultTimezone: string;
  defaultTime: string;
}

/** What the commands need from the running service. */
export interface CommandContext {
  store: Store;
  library: PaperLibrary;
  settings: CommandSettings;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  now(): Date;
  /** Runs a cycle now and delivers what is pending for `target`; a line for the person. */
  digestNow(target: Target): Promise<string>;
  /** The `/status` text. */
  status(): Promise<string>;
  /** `/digest schedule` changed a target's delivery settings. */
  scheduleChanged(settings: TargetSettings): void;
  /** An answer that takes longer than this is deferred first ({@link DEFER_AFTER_MS}). */
  deferAfterMs?: number;
}

/**
 * Discord forgets an interaction not answered within 3 s ("This interaction failed"). Answers
 * that wait on the search index — which may be filling at start-up, refilling (`search.
 * windowDays`) or planning a large cycle — are deferred ("thinking…") once they take this long,
 * and sent as an edit when ready; quick ones are sent at once, as before.
 */
export const DEFER_AFTER_MS = 1500;

const LATE = Symbol('late');

/** `work`'s result; `defer` is called first if it is not there within the context's deadline. */
async function withinDeadline<T>(
  ctx: CommandContext,
  work: Promise<T>,
  defer: () => Promise<unknown>,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), ctx.deferAfterMs ?? DEFER_AFTER_MS);
  });
  try {
    const first = await Promise.race([work, late]);
    if (first !== LATE) return first as T;
    await defer();
    return await work;
  } finally {
    clearTimeout(timer);
  }
}

/** The command definitions, as registered with Discord. */
export function commandDefinitions(): RESTPostAPIChatInputApplicationCommandsJSONBody[] {
  const query = (o: import('discord.js').SlashCommandStringOption, what: string) =>
    o.setName('query').setDescription(what).setRequired(true).setMaxLength(500);
  return [
    new SlashCommandBuilder()
      .setName('subscribe')
      .setDescription('Get new papers matching a filter posted here or sent to you')
      .addStringOption((o) => query(o, 'Filter, e.g. multi-task OR "mixture of experts" -survey'))
      .addStringOption((o) =>
        o
          .setName('for')
          .setDescription('Where the papers go (default: this channel)')
          .addChoices(
            { name: 'this channel', value: 'channel' },
            { name: 'me (direct messages)', value: 'me' },
          ),
      ),
    new SlashCommandBuilder()
      .setName('unsubscribe')
      .setDescription('Remove a subscription of this channel or yours')
      .addStringOption((o) =>
        o.setName('subscription').setDescription('The subscription').setRequired(true).setAutocomplete(true),
      ),
    new SlashCommandBuilder()
      .setName('subscriptions')
      .setDescription("This channel's subscriptions and yours"),
    new SlashCommandBuilder()
      .setName('paper')
      .setDescription('Look papers up')
      .addSubcommand((s) =>
        s
          .setName('search')
          .setDescription('Ranked papers matching a filter')
          .addStringOption((o) => query(o, 'Filter, e.g. author:hinton "world model"')),
      )
      .addSubcommand((s) =>
        s
          .setName('show')
          .setDescription('One paper in full')
          .addStringOption((o) =>
            o.setName('id').setDescription('arXiv id, arXiv/HF URL or exact title').setRequired(true),
          ),
      )
      .addSubcommand((s) =>
        s
          .setName('why')
          .setDescription("Which of this channel's subscriptions a paper matches, and on which words")
          .addStringOption((o) =>
            o.setName('paper').setDescription('arXiv id, arXiv/HF URL or exact title').setRequired(true),
          ),
      ),
    new SlashCommandBuilder()
      .setName('digest')
      .setDescription("This channel's digest")
      .addSubcommand((s) =>
        s.setName('now').setDescription('Fetch sources and post what is pending here now'),
      )
      .addSubcommand((s) =>
        s
          .setName('schedule')
          .setDescription('When this channel gets its papers')
          .addStringOption((o) =>
            o
              .setName('mode')
              .setDescription('immediate: after every fetch; daily: once a day')
              .setRequired(true)
              .addChoices({ name: 'immediate', value: 'immediate' }, { name: 'daily', value: 'daily' }),
          )
          .addStringOption((o) => o.setName('time').setDescription('HH:MM for daily digests (default 09:00)'))
          .addStringOption((o) =>
            o.setName('timezone').setDescription('IANA timezone, e.g. Europe/Berlin (default UTC)'),
          ),
      )
      .addSubcommand((s) =>
        s
          .setName('preview')
          .setDescription('What a filter would have matched recently')
          .addStringOption((o) => query(o, 'Filter to try'))
          .addIntegerOption((o) =>
            o.setName('days').setDescription('How far back (default 7)').setMinValue(1).setMaxValue(365),
          ),
      )
      .addSubcommand((s) =>
        s
          .setName('resume')
          .setDescription("Resume this channel's paused subscriptions and post what is pending"),
      ),
    new SlashCommandBuilder().setName('status').setDescription('What paperboy did last and does next'),
  ].map((b) => b.toJSON());
}

const EPHEMERAL = MessageFlags.Ephemeral;
const NO_PINGS = { parse: [] as [] };

/** Routes an interaction to its handler; never throws. */
export async function handleInteraction(interaction: Interaction, ctx: CommandContext): Promise<void> {
  try {
    if (interaction.isAutocomplete()) return await autocomplete(interaction, ctx);
    if (interaction.isButton()) return await searchPage(interaction, ctx);
    if (!interaction.isChatInputCommand()) return;
    switch (interaction.commandName) {
      case 'subscribe':
        return await subscribeCommand(interaction, ctx);
      case 'unsubscribe':
        return await unsubscribeCommand(interaction, ctx);
      case 'subscriptions':
        return await listCommand(interaction, ctx);
      case 'paper':
        return await paperCommand(interaction, ctx);
      case 'digest':
        return await digestCommand(interaction, ctx);
      case 'status':
        return await reply(interaction, await ctx.status());
      default:
        throw new UserError(`Unknown command /${interaction.commandName}.`);
    }
  } catch (err) {
    if (interaction.isAutocomplete()) {
      await interaction.respond([]).catch(() => undefined);
      return;
    }
    if (!interaction.isRepliable()) return;
    let text: string;
    if (err instanceof UserError) text = err.message;
    else if (err instanceof QueryError) text = describeQueryError(err);
    else {
      const ref = hash64(`${Date.now()}${Math.random()}`).slice(0, 8);
      ctx.logger.error(
        { err, ref, command: interaction.isChatInputCommand() ? interaction.commandName : interaction.type },
        'command failed',
      );
      text = `Sorry, that did not work on our side (reference \`${ref}\`). Please try again later.`;
    }
    await reply(interaction as ChatInputCommandInteraction, text).catch((e: unknown) =>
      ctx.logger.warn({ err: e }, 'could not send the error reply'),
    );
  }
}

async function reply(
  interaction: ChatInputCommandInteraction | ButtonInteraction,
  content: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const payload = { content: clip(content, 2000), allowedMentions: NO_PINGS, ...extra };
  if (interaction.deferred || interaction.replied) await interaction.editReply(payload);
  else await interaction.reply({ ...payload, flags: EPHEMERAL });
}

/** The filter's error with a caret under the column. */
export function describeQueryError(err: QueryError): string {
  const line = err.query.length <= 120 ? err.query : err.query.slice(0, 120);
  const caret = `${' '.repeat(Math.max(0, Math.min(err.column - 1, line.length)))}^`;
  return `That filter has a problem: **${escapeInline(err.problem)}**\n\`\`\`\n${line}\n${caret}\n\`\`\`See the filter syntax in the README.`;
}

function canManageChannel(interaction: ChatInputCommandInteraction | AutocompleteInteraction): boolean {
  return interaction.memberPermissions?.has(PermissionFlagsBits.ManageChannels) ?? false;
}

function channelTarget(interaction: ChatInputCommandInteraction): Target | undefined {
  if (!interaction.inGuild() || interaction.channelId === null) return undefined;
  return { kind: 'channel', channelId: interaction.channelId, guildId: interaction.guildId };
}

function userTarget(interaction: { user: { id: string } }): Target {
  return { kind: 'user', userId: interaction.user.id };
}

/** The target a command acts on, checking the channel permission. */
function targetFor(interaction: ChatInputCommandInteraction, forWhom: string | null): Target {
  const channel = channelTarget(interaction);
  if (forWhom === 'me' || channel === undefined) return userTarget(interaction);
  if (!canManageChannel(interaction)) {
    throw new UserError(
      "Changing this channel's subscriptions needs the **Manage Channels** permission. Use `for: me` to get papers by direct message instead.",
    );
  }
  return channel;
}

async function subscribeCommand(
  interaction: ChatInputCommandInteraction,
  ctx: CommandContext,
): Promise<void> {
  const text = normalizeQueryText(interaction.options.getString('query', true));
  const target = targetFor(interaction, interaction.options.getString('for'));
  compileQuery(text);
  await interaction.deferReply({ flags: EPHEMERAL });
  const now = ctx.now();
  const settings = await ctx.store.targets.get(targetKey(target));
  const sub: Subscription = {
    id: subscriptionId(target, text),
    target,
    query: text,
    createdBy: interaction.user.id,
    createdAt: now.toISOString(),
    mode: settings?.mode ?? 'immediate',
    notifyUpdates: false,
    backfillHours: ctx.settings.backfillHours,
  };
  const result = await subscribe(ctx.store, ctx.library, sub, { previewDays: ctx.settings.previewDays, now });
  const where =
    target.kind === 'user' ? 'you (by direct message)' : `<#${(target as { channelId: string }).channelId}>`;
  const lines = [
    result.created
      ? `Subscribed ${where} to \`${escapeCode(text)}\`.`
      : `${where} already has \`${escapeCode(text)}\`: nothing changed.`,
    `In the last ${result.preview.days} days it would have matched **${result.preview.total}** paper${result.preview.total === 1 ? '' : 's'}${result.preview.top.length > 0 ? ':' : '.'}`,
    ...result.preview.top.map((p, i) => `${i + 1}. ${paperLine(p)}`),
  ];
  if (result.backfilled > 0)
    lines.push(
      `The first digest will include ${result.backfilled} of them from the last ${ctx.settings.backfillHours} h.`,
    );
  lines.push(deliveryLine(settings));
  await reply(interaction, lines.join('\n'));
}

function deliveryLine(settings: TargetSettings | undefined): string {
  if (!settings || settings.mode === 'immediate')
    return 'Papers are posted after each fetch (change with `/digest schedule`).';
  return `Papers are posted daily at ${settings.time} ${settings.timezone} (change with \`/digest schedule\`).`;
}

/** Subscriptions the person may see here: this channel's and their own. */
async function visibleSubs(
  interaction: ChatInputCommandInteraction | AutocompleteInteraction,
  ctx: CommandContext,
): Promise<Subscription[]> {
  const keys = [targetKey(userTarget(interaction))];
  if (interaction.inGuild() && interaction.channelId) keys.unshift(`channel:${interaction.channelId}`);
  const lists = await Promise.all(keys.map((k) => ctx.store.subscriptions.listByTarget(k)));
  return lists.flat();
}

function subLabel(s: Subscription): string {
  const where = s.target.kind === 'user' ? 'you' : 'this channel';
  return `${s.query} (${where}${s.paused ? ', paused' : ''})`;
}

async function autocomplete(interaction: AutocompleteInteraction, ctx: CommandContext): Promise<void> {
  const typed = interaction.options.getFocused().toLowerCase();
  const subs = await visibleSubs(interaction, ctx);
  const choices = subs
    .filter((s) => s.query.toLowerCase().includes(typed))
    .slice(0, 25)
    .map((s) => ({ name: clip(subLabel(s), 100), value: s.id }));
  await interaction.respond(choices);
}

async function unsubscribeCommand(
  interaction: ChatInputCommandInteraction,
  ctx: CommandContext,
): Promise<void> {
  const ref = interaction.options.getString('subscription', true);
  const subs = await visibleSubs(interaction, ctx);
  const sub = subs.find((s) => s.id === ref) ?? subs.find((s) => s.query === normalizeQueryText(ref));
  if (!sub)
    throw new UserError("No such subscription here. `/subscriptions` lists this channel's and yours.");
  if (sub.target.kind === 'channel' && !canManageChannel(interaction)) {
    throw new UserError("Removing this channel's subscriptions needs the **Manage Channels** permission.");
  }
  await ctx.store.subscriptions.remove(sub.id);
  await reply(
    interaction,
    `Unsubscribed ${sub.target.kind === 'user' ? 'you' : 'this channel'} from \`${escapeCode(sub.query)}\`.`,
  );
}

async function listCommand(interaction: ChatInputCommandInteraction, ctx: CommandContext): Promise<void> {
  const subs = await visibleSubs(interaction, ctx);
  if (subs.length === 0) {
    await reply(interaction, 'No subscriptions here yet. Start one with `/subscribe query:<filter>`.');
    return;
  }
  const lines = subs.map((s) => {
    const where = s.target.kind === 'user' ? 'you' : 'this channel';
    const paused = s.paused ? ` — ⏸ paused since ${s.paused.at.slice(0, 16)}Z: ${s.paused.reason}` : '';
    return `• \`${escapeCode(s.query)}\` → ${where}${paused}`;
  });
  await reply(interaction, `**Subscriptions** (${subs.length})\n${lines.join('\n')}`);
}

/** Searches kept for the page buttons: custom ids are limited to 100 characters. */
const searches = new Map<string, string>();
const MAX_SEARCHES = 1000;

function rememberSearch(query: string): string {
  const key = hash64(query).slice(0, 12);
  searches.delete(key);
  searches.set(key, query);
  if (searches.size > MAX_SEARCHES) searches.delete(searches.keys().next().value as string);
  return key;
}

async function renderSearch(
  query: string,
  page: number,
  ctx: CommandContext,
): Promise<{ content: string; components: ActionRowBuilder<ButtonBuilder>[] }> {
  const parsed = compileQuery(query);
  const size = ctx.settings.pageSize;
  const result = await ctx.library.search(parsed, { limit: size, offset: page * size });
  const papers = await ctx.library.papers(result.hits.map((h) => h.paperId));
  const pages = Math.max(1, Math.ceil(result.total / size));
  const lines = papers.map((p, i) => `${page * size + i + 1}. ${paperLine(p)}`);
  const content =
    result.total === 0
      ? `No paper matches \`${escapeCode(query)}\`.`
      : `**${result.total}** paper${result.total === 1 ? '' : 's'} match \`${escapeCode(query)}\` — page ${page + 1}/${pages}\n${lines.join('\n')}`;
  const key = rememberSearch(query);
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder()
      .setCustomId(`search:${key}:${page - 1}`)
      .setLabel('◀ Previous')
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(page <= 0),
    new ButtonBuilder()
      .setCustomId(`search:${key}:${page + 1}`)
      .setLabel('Next ▶')
      .setStyle(ButtonStyle.Secondary)
      .setDisabled(page + 1 >= pages),
  );
  return { content: clip(content, 2000), components: result.total > size ? [row] : [] };
}

async function searchPage(interaction: ButtonInteraction, ctx: CommandContext): Promise<void> {
  const m = /^search:([0-9a-f]{12}):(-?\d+)$/.exec(interaction.customId);
  if (!m) return;
  const query = searches.get(m[1] as string);
  if (query === undefined) throw new UserError('This search has expired. Run `/paper search` again.');
  const page = Math.max(0, Number(m[2]));
  const rendered = await withinDeadline(ctx, renderSearch(query, page, ctx), () => interaction.deferUpdate());
  if (interaction.deferred) await interaction.editReply({ ...rendered, allowedMentions: NO_PINGS });
  else await interaction.update({ ...rendered, allowedMentions: NO_PINGS });
}

async function paperCommand(interaction: ChatInputCommandInteraction, ctx: CommandContext): Promise<void> {
  const sub = interaction.options.getSubcommand();
  if (sub === 'search') {
    const query = normalizeQueryText(interaction.options.getString('query', true));
    compileQuery(query);
    const { content, components } = await withinDeadline(ctx, renderSearch(query, 0, ctx), () =>
      interaction.deferReply({ flags: EPHEMERAL }),
    );
    await reply(interaction, content, { components });
    return;
  }
  const ref = interaction.options.getString(sub === 'show' ? 'id' : 'paper', true);
  const paper = await findPaper(ctx.store, ref);
  if (!paper)
    throw new UserError(`No paper "${escapeInline(clip(ref, 200))}" is known. Try \`/paper search\`.`);
  if (sub === 'show') {
    const [first] = packDigest(
      [{ paper, tldr: summarize(paper.abstract), terms: [], subscriptionQueries: [], kind: 'new' }],
      { title: paper.title, date: ctx.now().toISOString().slice(0, 10) },
    );
    const abstract = clip(paper.abstract, 1800);
    await interaction.reply({
      content: `**Abstract**\n${escapeInline(abstract)}`,
      embeds: (first?.body as { embeds?: unknown[] } | undefined)?.embeds as never,
      flags: EPHEMERAL,
      allowedMentions: NO_PINGS,
    });
    return;
  }
  // why
  const subs = interaction.inGuild()
    ? await ctx.store.subscriptions.listByTarget(`channel:${interaction.channelId}`)
    : [];
  const mine = await ctx.store.subscriptions.listByTarget(targetKey(userTarget(interaction)));
  const all = [...subs, ...mine];
  if (all.length === 0)
    throw new UserError('There are no subscriptions here (or yours) to check this paper against.');
  const lines = [`**${escapeInline(clip(paper.title, 200))}**`];
  for (const { sub: s, explanation } of ctx.library.explain(paper, all)) {
    lines.push(
      `${explanation.matched ? '✅' : '❌'} \`${escapeCode(s.query)}\`: ${escapeInline(clip(explanationText(explanation), 300))}`,
    );
  }
  await reply(interaction, lines.join('\n'));
}

async function digestCommand(interaction: ChatInputCommandInteraction, ctx: CommandContext): Promise<void> {
  const sub = interaction.options.getSubcommand();
  if (sub === 'preview') {
    const query = normalizeQueryText(interaction.options.getString('query', true));
    const days = interaction.options.getInteger('days') ?? 7;
    const parsed = compileQuery(query);
    const since = new Date(ctx.now().getTime() - days * 86_400_000);
    const { result, papers } = await withinDeadline(
      ctx,
      (async () => {
        const result = await ctx.library.search(parsed, { limit: 5, since });
        return { result, papers: await ctx.library.papers(result.hits.map((h) => h.paperId)) };
      })(),
      () => interaction.deferReply({ flags: EPHEMERAL }),
    );
    await reply(
      interaction,
      [
        `\`${escapeCode(query)}\` matched **${result.total}** paper${result.total === 1 ? '' : 's'} first seen in the last ${days} day${days === 1 ? '' : 's'}${papers.length > 0 ? ':' : '.'}`,
        ...papers.map((p, i) => `${i + 1}. ${paperLine(p)}`),
      ].join('\n'),
    );
    return;
  }
  const channel = channelTarget(interaction);
  if (!channel)
    throw new UserError(
      '`/digest` works in a server channel. For your own subscriptions, papers come by DM.',
    );
  if (!canManageChannel(interaction))
    throw new UserError(`\`/digest ${sub}\` needs the **Manage Channels** permission.`);
  if (sub === 'now' || sub === 'resume') {
    await interaction.deferReply({ flags: EPHEMERAL });
    if (sub === 'resume') {
      for (const s of await ctx.store.subscriptions.listByTarget(targetKey(channel))) {
        if (s.paused) await ctx.store.subscriptions.setPaused(s.id, undefined);
      }
    }
    await reply(interaction, await ctx.digestNow(channel));
    return;
  }
  // schedule
  const mode = interaction.options.getString('mode', true) as DeliveryMode;
  const time = interaction.options.getString('time') ?? ctx.settings.defaultTime;
  const timezone = interaction.options.getString('timezone') ?? ctx.settings.defaultTimezone;
  if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(time))
    throw new UserError(`"${escapeInline(time)}" is not a time: use HH:MM, e.g. 09:00.`);
  if (!isTimezone(timezone)) {
    throw new UserError(
      `"${escapeInline(timezone)}" is not an IANA timezone: use e.g. Europe/Berlin, America/New_York or UTC.`,
    );
  }
  const key = targetKey(channel);
  const previous = await ctx.store.targets.get(key);
  const settings: TargetSettings = { target: channel, mode, time, timezone };
  if (previous?.lastDigestAt) settings.lastDigestAt = previous.lastDigestAt;
  await ctx.store.targets.set(settings);
  ctx.scheduleChanged(settings);
  await reply(
    interaction,
    mode === 'daily'
      ? `This channel now gets one digest a day at **${time} ${timezone}**.`
      : 'This channel now gets papers right after each fetch.',
  );
}

/** True for an IANA zone name the runtime knows. */
export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function explanationText(e: import('../core/query/index.js').Explanation): string {
  return formatExplanationShort(e);
}

function formatExplanationShort(e: import('../core/query/index.js').Explanation): string {
  const parts: string[] = [];
  for (const t of e.terms ?? []) {
    if (t.matched) parts.push(`${t.term} in ${t.field}${t.snippet ? ` ("${t.snippet}")` : ''}`);
    else parts.push(`no ${t.term}`);
  }
  return parts.join('; ') || (e.matched ? 'matches' : 'no match');
}

function paperLine(p: Paper): string {
  const url = p.links.abs ?? p.links.hf;
  const title = escapeInline(clip(p.title, 150));
  return url ? `[${title}](<${url}>)` : title;
}

function escapeInline(text: string): string {
  return text.replace(/([\\*_`~|[\]()<>#-])/g, '\\$1').replace(/@(everyone|here)/g, '@\u200b$1');
}

function escapeCode(text: string): string {
  return text.replace(/`/g, 'ˋ');
}

function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > max * 0.6 ? cut.slice(0, space) : cut}…`;
}
