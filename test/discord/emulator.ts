/**
 * A small Discord: REST v10 and gateway v10 on 127.0.0.1, enough for the unmodified discord.js
 * client to log in, register commands, receive interactions and post messages — with Discord's
 * validation, nonce deduplication, rate-limit headers and fault injection, and a log of every
 * request for the tests to read. Several guilds and shards behave as on Discord: each socket
 * gets the guilds and events of the shard it identified as, and bad shards are refused.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';

/** The path of a message post, as `inject` and `requests` take it. */
export const MESSAGE_POSTS = /^\/channels\/\d+\/messages$/;

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  status: number;
  at: number;
}

export interface Injection {
  method?: string;
  path: string | RegExp;
  /** Status to answer with, or an action: create the message then drop the socket, or never answer. */
  status?: number;
  code?: number;
  retryAfter?: number;
  global?: boolean;
  action?: 'create-then-drop' | 'hang';
  /** How many matching requests this applies to (default: all). */
  times?: number;
  /** Let this many matching requests through first. */
  after?: number;
}

export interface EmulatedMessage {
  id: string;
  channel_id: string;
  content: string;
  embeds: Array<Record<string, unknown>>;
  nonce?: string | number;
  allowed_mentions?: unknown;
  author: Record<string, unknown>;
  timestamp: string;
  thread?: { id: string };
  [k: string]: unknown;
}

export interface InteractionHandle {
  id: string;
  token: string;
  /** How many gateway sockets it was dispatched to (those of its guild's shard). */
  sockets: number;
  /** The first callback (type + data). */
  reply(timeoutMs?: number): Promise<{ type: number; data?: Record<string, unknown> }>;
  /** Callback, follow-ups and edits so far. */
  responses(): Array<{ kind: 'callback' | 'followup' | 'edit'; body: Record<string, unknown> }>;
  /** Resolves when a response satisfies `pred`. */
  waitFor(
    pred: (r: { kind: string; body: Record<string, unknown> }) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

export interface EmulatorOptions {
  token?: string;
  /** Per-channel message bucket: `limit` per `windowMs`. Default 5 per 5000 ms (Discord's). */
  channelLimit?: { limit: number; windowMs: number };
  /** Global requests per second. Default 50. */
  globalPerSecond?: number;
  /** Text channels of the first guild (default 3). */
  channels?: number;
  /**
   * Guilds the bot is in (default 1). Guild `i` falls on shard `i % n` for every shard count
   * `n` up to 16, so a test knows which shard serves it; each guild after the first gets one
   * text channel.
   */
  guilds?: number;
  /** The `shards` that `GET /gateway/bot` recommends (default 1). */
  recommendedShards?: number;
  /** `session_start_limit.max_concurrency`: shards that may identify at once (default 1). */
  maxConcurrency?: number;
  /**
   * Most guilds one session may hold; an IDENTIFY whose shard would hold more is closed with
   * 4011 Sharding required (Discord's limit is 2500; default 2500).
   */
  maxGuildsPerShard?: number;
  /**
   * The shard count Discord requires of this bot, as it does for large bots: an IDENTIFY with
   * another count is closed with 4010 Invalid shard. Unset, any count is accepted and every
   * socket gets the guilds its own `[id, count]` selects, as Discord does.
   */
  requiredShardCount?: number;
}

/** One IDENTIFY the gateway received, and how it ended. */
export interface RecordedIdentify {
  shard: [number, number] | undefined;
  at: number;
  /** The guilds READY listed, when the identify was accepted. */
  guilds: string[];
  /** The close code it was refused with (4004, 4010, 4011). */
  closedWith?: number;
}

/** Where one gateway dispatch went. */
export interface RecordedDispatch {
  t: string;
  /** The `[id, count]` of the socket that received it. */
  shard: [number, number];
  guildId?: string;
  interactionId?: string;
}

/** The shard a guild's events go to, by Discord's rule; DMs (no guild) go to shard 0. */
export function shardOf(guildId: string | undefined, shardCount: number): number {
  if (guildId === undefined) return 0;
  return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
}

const PERM_SEND = 1n << 11n;
const PERM_VIEW = 1n << 10n;
const PERM_MANAGE_CHANNELS = 1n << 4n;
export const PERMISSIONS = {
  all: String((1n << 50n) - 1n),
  member: String(PERM_SEND | PERM_VIEW),
  manageChannels: String(PERM_SEND | PERM_VIEW | PERM_MANAGE_CHANNELS),
};

let snowflake = 1_300_000_000_000_000_000n;
const nextId = () => String(++snowflake);

// Guild ids whose timestamp part (`id >> 22`) is a multiple of 720720 (divisible by every
// count up to 16) plus the guild's index, so guild `i` is on shard `i % n` for those counts.
const GUILD_EPOCH = 720_720n * 430_000n;
let guildCounter = 0n;
/** Guild `index`'s id; the low 22 bits (worker and increment) keep ids unique across emulators. */
function guildSnowflake(index: bigint): string {
  return String(((GUILD_EPOCH + index) << 22n) | (++guildCounter & 0x3fffffn));
}

export class DiscordEmulator extends EventEmitter {
  readonly token: string;
  readonly applicationId = nextId();
  readonly botUser = {
    id: this.applicationId,
    username: 'paperboy',
    discriminator: '0',
    global_name: 'paperboy',
    avatar: null,
    bot: true,
  };
  /** The first guild's id (every guild: `guildIds`). */
  readonly guildId: string;
  readonly guildIds: string[] = [];
  /** Text channels of every guild, the first guild's first. */
  readonly channelIds: string[] = [];
  /** Every IDENTIFY, in order. */
  readonly identifies: RecordedIdentify[] = [];
  /** Every READY, GUILD_CREATE and INTERACTION_CREATE sent, with the socket's shard. */
  readonly dispatches: RecordedDispatch[] = [];
  private readonly identified = new Map<WebSocket, [number, number]>();
  /** While set, gateway connections are cut as they come (Discord's gateway down). */
  private gatewayRefused = false;
  /** Sessions a RESUME may take up again: id → its shard. */
  private readonly sessions = new Map<string, [number, number]>();
  /** Every RESUME, in order, and whether it took its session up again. */
  readonly resumes: Array<{ sessionId: string; resumed: boolean }> = [];
  private readonly guildChannels = new Map<string, string[]>();
  apiBase = '';
  private readonly http = createServer((req, res) => void this.handle(req, res));
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sockets = new Set<WebSocket>();
  private readonly log: RecordedRequest[] = [];
  private readonly channelMessages = new Map<string, EmulatedMessage[]>();
  private readonly channelInfo = new Map<
    string,
    {
      type: number;
      parent_id?: string;
      deleted?: boolean;
      canSend: boolean;
      recipient?: string;
      guildId?: string;
    }
  >();
  private readonly injections: Array<Injection & { left: number; seen: number }> = [];
  private readonly buckets = new Map<string, { start: number; count: number }>();
  private global = { start: 0, count: 0 };
  private seq = 0;
  private readonly interactions = new Map<
    string,
    {
      responses: Array<{ kind: 'callback' | 'followup' | 'edit'; body: Record<string, unknown> }>;
      created: number;
    }
  >();
  commands: { global: unknown[]; guild: Map<string, unknown[]> } = { global: [], guild: new Map() };
  commandWrites = 0;
  /** 401, 403 and 429 responses sent. */
  invalidRequests = 0;
  rateLimited = 0;
  /** Interactions that got no callback within 3 s (Discord shows "interaction failed"). */
  failedInteractions = 0;
  private readonly opts: Required<EmulatorOptions>;

  constructor(opts: EmulatorOptions = {}) {
    super();
    this.opts = {
      token: opts.token ?? 'MTMwMDAwMDAwMDAwMDAwMDAwMA.emulator.test-token-not-secret',
      channelLimit: opts.channelLimit ?? { limit: 5, windowMs: 5000 },
      globalPerSecond: opts.globalPerSecond ?? 50,
      channels: opts.channels ?? 3,
      guilds: opts.guilds ?? 1,
      recommendedShards: opts.recommendedShards ?? 1,
      maxConcurrency: opts.maxConcurrency ?? 1,
      maxGuildsPerShard: opts.maxGuildsPerShard ?? 2500,
      requiredShardCount: opts.requiredShardCount ?? 0,
    };
    this.token = this.opts.token;
    for (let i = 0; i < this.opts.guilds; i++) {
      const id = guildSnowflake(BigInt(i));
      this.guildIds.push(id);
      this.guildChannels.set(id, []);
    }
    this.guildId = this.guildIds[0] as string;
    for (let i = 0; i < this.opts.channels; i++) this.addChannel();
    for (const g of this.guildIds.slice(1)) this.addChannel(g);
    this.http.on('upgrade', (req, socket, head) => {
      if (this.gatewayRefused) {
        socket.destroy();
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.gateway(ws));
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((r) => this.http.listen(0, '127.0.0.1', r));
    const { port } = this.http.address() as AddressInfo;
    this.apiBase = `http://127.0.0.1:${port}/api`;
    return this;
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.http.closeAllConnections();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  // ---- world ---------------------------------------------------------------------------------

  /** A new text channel in `guildId` (default: the first guild). */
  addChannel(guildId: string = this.guildId): string {
    const id = nextId();
    this.channelIds.push(id);
    this.guildChannels.get(guildId)?.push(id);
    this.channelInfo.set(id, { type: 0, canSend: true, guildId });
    this.channelMessages.set(id, []);
    return id;
  }

  /** The text channels of one guild. */
  channelsOf(guildId: string): string[] {
    return [...(this.guildChannels.get(guildId) ?? [])];
  }

  /** The `[id, count]` of every socket that identified and is still open. */
  connectedShards(): Array<[number, number]> {
    return [...this.identified.values()];
  }

  /** The bot loses (or regains) Send Messages in `channelId`. */
  setCanSend(channelId: string, can: boolean): void {
    const c = this.channelInfo.get(channelId);
    if (c) c.canSend = can;
  }

  deleteChannel(channelId: string): void {
    const c = this.channelInfo.get(channelId);
    if (c) c.deleted = true;
  }

  messages(channelId: string): EmulatedMessage[] {
    return this.channelMessages.get(channelId) ?? [];
  }

  /** Message posts (`POST /channels/:id/messages`) requested so far, answered or not. */
  postsRequested(): number {
    return this.requests({ method: 'POST', path: MESSAGE_POSTS }).length;
  }

  /** Every embed title posted in `channelId` and in the threads opened from its messages, in order. */
  titles(channelId: string): string[] {
    const out: string[] = [];
    for (const m of this.messages(channelId)) {
      for (const e of m.embeds) out.push(String(e.title));
      if (m.thread) out.push(...this.titles(m.thread.id));
    }
    return out;
  }

  allMessages(): EmulatedMessage[] {
    return [...this.channelMessages.values()].flat();
  }

  /** The DM channel id of a user, when one was opened. */
  dmChannelOf(userId: string): string | undefined {
    for (const [id, c] of this.channelInfo) if (c.recipient === userId) return id;
    return undefined;
  }

  requests(filter: { method?: string; path?: RegExp } = {}): RecordedRequest[] {
    return this.log.filter(
      (r) => (!filter.method || r.method === filter.method) && (!filter.path || filter.path.test(r.path)),
    );
  }

  inject(rule: Injection): void {
    this.injections.push({ ...rule, left: rule.times ?? Number.POSITIVE_INFINITY, seen: 0 });
  }

  clearInjections(): void {
    this.injections.length = 0;
  }

  // ---- REST ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const url = new URL(req.url ?? '/', 'http://x');
    const path = decodeURIComponent(url.pathname).replace(/^\/api\/v10/, '');
    const method = req.method ?? 'GET';
    const entry: RecordedRequest = { method, path, body, status: 0, at: Date.now() };
    this.log.push(entry);
    const send = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      entry.status = status;
      if (status === 401 || status === 403 || status === 429) this.invalidRequests++;
      if (status === 429) this.rateLimited++;
      // 204 No Content has no body and no content type (discord.js would try to parse JSON).
      res.writeHead(
        status,
        payload === undefined ? headers : { 'content-type': 'application/json', ...headers },
      );
      res.end(payload === undefined ? '' : JSON.stringify(payload));
      this.emit('request', entry);
    };
    const isInteraction = path.startsWith('/interactions/') || path.startsWith('/webhooks/');
    if (!isInteraction && req.headers.authorization !== `Bot ${this.token}`) {
      return send(401, { message: '401: Unauthorized', code: 0 });
    }
    // Injected faults come first.
    const matching = this.injections.filter(
      (r) =>
        (!r.method || r.method === method) &&
        (typeof r.path === 'string' ? path === r.path : r.path.test(path)),
    );
    for (const r of matching) r.seen++;
    const rule = matching.find((r) => r.left > 0 && r.seen > (r.after ?? 0));
    let dropAfter = false;
    if (rule) {
      rule.left--;
      if (rule.action === 'hang') return;
      if (rule.action === 'create-then-drop') dropAfter = true;
      else if (rule.status === 429) {
        const retry = rule.retryAfter ?? 0.2;
        return send(
          429,
          { message: 'You are being rate limited.', retry_after: retry, global: rule.global ?? false },
          {
            'retry-after': String(Math.ceil(retry)),
            'x-ratelimit-limit': '5',
            'x-ratelimit-remaining': '0',
            'x-ratelimit-reset-after': String(retry),
            'x-ratelimit-reset': String(Date.now() / 1000 + retry),
            'x-ratelimit-bucket': 'injected',
            'x-ratelimit-scope': rule.global ? 'global' : 'user',
            ...(rule.global ? { 'x-ratelimit-global': 'true' } : {}),
          },
        );
      } else if (rule.status !== undefined) {
        const messages: Record<number, string> = {
          50013: 'Missing Permissions',
          50001: 'Missing Access',
          10003: 'Unknown Channel',
          0: 'Internal Server Error',
        };
        return send(rule.status, { message: messages[rule.code ?? 0] ?? 'Error', code: rule.code ?? 0 });
      }
    }
    if (!isInteraction) {
      const limited = this.globalLimit();
      if (limited)
        return send(
          429,
          { message: 'You are being rate limited.', retry_after: limited, global: true },
          {
            'retry-after': String(Math.ceil(limited)),
            'x-ratelimit-global': 'true',
            'x-ratelimit-scope': 'global',
          },
        );
    }
    const result = this.route(method, path, body, url);
    if (dropAfter) {
      entry.status = -1;
      res.socket?.destroy();
      return;
    }
    send(result.status, result.body, result.headers);
  }

  private globalLimit(): number | undefined {
    const now = Date.now();
    if (now - this.global.start >= 1000) this.global = { start: now, count: 0 };
    this.global.count++;
    if (this.global.count > this.opts.globalPerSecond) return (1000 - (now - this.global.start)) / 1000;
    return undefined;
  }

  private route(
    method: string,
    path: string,
    body: unknown,
    url: URL,
  ): { status: number; body?: unknown; headers?: Record<string, string> } {
    const b = (body ?? {}) as Record<string, unknown>;
    let m: RegExpExecArray | null;
    if (method === 'GET' && path === '/gateway/bot') {
      const { port } = this.http.address() as AddressInfo;
      return {
        status: 200,
        body: {
          url: `ws://127.0.0.1:${port}/gateway`,
          shards: this.opts.recommendedShards,
          session_start_limit: {
            total: 1000,
            remaining: 1000,
            reset_after: 0,
            max_concurrency: this.opts.maxConcurrency,
          },
        },
      };
    }
    if (method === 'GET' && path === '/users/@me') return { status: 200, body: this.botUser };
    if ((m = /^\/applications\/(\d+)(?:\/guilds\/(\d+))?\/commands$/.exec(path))) {
      const guild = m[2];
      if (method === 'GET')
        return { status: 200, body: guild ? (this.commands.guild.get(guild) ?? []) : this.commands.global };
      if (method === 'PUT') {
        this.commandWrites++;
        const stored = (body as Array<Record<string, unknown>>).map((c) => ({
          id: nextId(),
          application_id: this.applicationId,
          version: nextId(),
          type: 1,
          default_member_permissions: null,
          ...c,
        }));
        if (guild) this.commands.guild.set(guild, stored);
        else this.commands.global = stored;
        return { status: 200, body: stored };
      }
    }
    if (method === 'POST' && path === '/users/@me/channels') {
      const recipient = String(b.recipient_id);
      const existing = this.dmChannelOf(recipient);
      const id = existing ?? nextId();
      if (!existing) {
        this.channelInfo.set(id, { type: 1, canSend: true, recipient });
        this.channelMessages.set(id, []);
      }
      return {
        status: 200,
        body: {
          id,
          type: 1,
          recipients: [{ id: recipient, username: `user${recipient}`, discriminator: '0', avatar: null }],
        },
      };
    }
    if ((m = /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/.exec(path)) && method === 'POST') {
      const [, channelId, messageId] = m as unknown as [string, string, string];
      const msg = this.messages(channelId).find((x) => x.id === messageId);
      if (!msg) return { status: 404, body: { message: 'Unknown Message', code: 10008 } };
      if (msg.thread)
        return {
          status: 400,
          body: { message: 'A thread has already been created for this message', code: 160004 },
        };
      const name = String(b.name ?? '');
      if (name.length === 0 || name.length > 100)
        return invalidForm('name', 'Must be between 1 and 100 in length.');
      msg.thread = { id: messageId };
      const guildId = this.channelInfo.get(channelId)?.guildId ?? this.guildId;
      this.channelInfo.set(messageId, { type: 11, parent_id: channelId, canSend: true, guildId });
      this.channelMessages.set(messageId, []);
      return {
        status: 201,
        body: {
          id: messageId,
          type: 11,
          parent_id: channelId,
          guild_id: guildId,
          name,
          thread_metadata: {
            archived: false,
            auto_archive_duration: 1440,
            locked: false,
            archive_timestamp: new Date().toISOString(),
          },
        },
      };
    }
    if ((m = /^\/channels\/(\d+)\/messages$/.exec(path))) {
      const channelId = m[1] as string;
      const info = this.channelInfo.get(channelId);
      if (!info || info.deleted) return { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
      if (method === 'GET')
        return {
          status: 200,
          body: [...this.messages(channelId)].reverse().slice(0, Number(url.searchParams.get('limit') ?? 50)),
        };
      if (method === 'POST') {
        if (!info.canSend) return { status: 403, body: { message: 'Missing Permissions', code: 50013 } };
        const bucket = this.bucket(channelId);
        if (bucket.limited)
          return {
            status: 429,
            body: { message: 'You are being rate limited.', retry_after: bucket.resetAfter, global: false },
            headers: {
              ...bucket.headers,
              'retry-after': String(Math.ceil(bucket.resetAfter)),
              'x-ratelimit-scope': 'user',
            },
          };
        const problem = validateMessage(b);
        if (problem) return { ...invalidForm(problem.field, problem.message), headers: bucket.headers };
        if (b.enforce_nonce === true && b.nonce !== undefined) {
          const prior = this.messages(channelId).find(
            (x) => x.nonce === b.nonce && Date.parse(x.timestamp) > Date.now() - 5 * 60_000,
          );
          if (prior) return { status: 200, body: prior, headers: bucket.headers };
        }
        const msg: EmulatedMessage = {
          id: nextId(),
          channel_id: channelId,
          type: 0,
          content: String(b.content ?? ''),
          embeds: (b.embeds as Array<Record<string, unknown>>) ?? [],
          author: this.botUser,
          timestamp: new Date().toISOString(),
          edited_timestamp: null,
          tts: false,
          mention_everyone: false,
          mentions: [],
          mention_roles: [],
          attachments: [],
          pinned: false,
          components: [],
          allowed_mentions: b.allowed_mentions,
          ...(b.nonce !== undefined ? { nonce: b.nonce as string } : {}),
        };
        this.messages(channelId).push(msg);
        this.emit('message', msg);
        return { status: 200, body: msg, headers: bucket.headers };
      }
    }
    if ((m = /^\/channels\/(\d+)$/.exec(path)) && method === 'GET') {
      const info = this.channelInfo.get(m[1] as string);
      if (!info || info.deleted) return { status: 404, body: { message: 'Unknown Channel', code: 10003 } };
      return {
        status: 200,
        body: {
          id: m[1],
          type: info.type,
          guild_id: info.type === 1 ? undefined : (info.guildId ?? this.guildId),
          name: `channel-${m[1]}`,
        },
      };
    }
    if ((m = /^\/interactions\/(\d+)\/([^/]+)\/callback$/.exec(path)) && method === 'POST') {
      const it = this.interactions.get(m[1] as string);
      if (!it) return { status: 404, body: { message: 'Unknown interaction', code: 10062 } };
      // Discord invalidates the token of an interaction not answered within 3 s.
      if (Date.now() - it.created > 3000)
        return { status: 404, body: { message: 'Unknown interaction', code: 10062 } };
      if (it.responses.some((r) => r.kind === 'callback'))
        return { status: 400, body: { message: 'Interaction has already been acknowledged.', code: 40060 } };
      it.responses.push({ kind: 'callback', body: b });
      this.emit('interaction-response');
      return { status: 204 };
    }
    if ((m = /^\/webhooks\/(\d+)\/([^/]+)(\/messages\/@original)?$/.exec(path))) {
      const it = [...this.interactions.entries()].find(
        ([, v]) => (v as unknown as { token: string }).token === m?.[2],
      )?.[1];
      if (!it) return { status: 404, body: { message: 'Unknown Webhook', code: 10015 } };
      if (method === 'GET' && m[3]) return { status: 200, body: this.webhookMessage({}) };
      it.responses.push({ kind: m[3] ? 'edit' : 'followup', body: b });
      this.emit('interaction-response');
      return { status: 200, body: this.webhookMessage(b) };
    }
    return { status: 404, body: { message: `404: Not Found (${method} ${path})`, code: 0 } };
  }

  private webhookMessage(b: Record<string, unknown>): EmulatedMessage {
    return {
      id: nextId(),
      channel_id: this.channelIds[0] as string,
      type: 0,
      content: String(b.content ?? ''),
      embeds: (b.embeds as Array<Record<string, unknown>>) ?? [],
      author: this.botUser,
      timestamp: new Date().toISOString(),
      edited_timestamp: null,
      tts: false,
      mention_everyone: false,
      mentions: [],
      mention_roles: [],
      attachments: [],
      pinned: false,
      components: (b.components as unknown[]) ?? [],
      flags: 64,
      webhook_id: this.applicationId,
      application_id: this.applicationId,
    };
  }

  private bucket(channelId: string): {
    limited: boolean;
    resetAfter: number;
    headers: Record<string, string>;
  } {
    const { limit, windowMs } = this.opts.channelLimit;
    const now = Date.now();
    let b = this.buckets.get(channelId);
    if (!b || now - b.start >= windowMs) {
      b = { start: now, count: 0 };
      this.buckets.set(channelId, b);
    }
    const resetAfter = Math.max(0, (b.start + windowMs - now) / 1000);
    const limited = b.count >= limit;
    if (!limited) b.count++;
    const headers = {
      'x-ratelimit-limit': String(limit),
      'x-ratelimit-remaining': String(Math.max(0, limit - b.count)),
      'x-ratelimit-reset': String((b.start + windowMs) / 1000),
      'x-ratelimit-reset-after': resetAfter.toFixed(3),
      'x-ratelimit-bucket': `messages-${channelId}`,
    };
    return { limited, resetAfter, headers };
  }

  // ---- gateway -------------------------------------------------------------------------------

  private gateway(ws: WebSocket): void {
    this.sockets.add(ws);
    ws.on('close', () => {
      this.sockets.delete(ws);
      this.identified.delete(ws);
    });
    const send = (payload: Record<string, unknown>) =>
      ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify(payload));
    send({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null });
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { op: number; d: Record<string, unknown> };
      if (msg.op === 1) send({ op: 11, d: null, s: null, t: null });
      if (msg.op === 2) this.identify(ws, msg.d);
      if (msg.op === 6) this.resume(ws, msg.d);
    });
  }

  /**
   * Closes every gateway connection as Discord does when it restarts a gateway node (close code
   * 4000, which a client may resume from): the client reconnects to `resume_gateway_url` and
   * sends RESUME.
   */
  /** Refuses gateway connections (or takes them again), as while Discord's gateway is down. */
  refuseGateway(refused: boolean): void {
    this.gatewayRefused = refused;
  }

  dropGateway(code = 4000, opts: { forgetSessions?: boolean } = {}): void {
    // Forgotten, a session's RESUME gets Invalid Session, as after Discord lost it.
    if (opts.forgetSessions) this.sessions.clear();
    for (const ws of this.sockets) ws.close(code, 'Unknown error.');
  }

  /**
   * RESUME as Discord answers it: a known session with the right token is taken up again
   * (RESUMED; nothing was dispatched meanwhile to replay); anything else gets Invalid Session
   * (op 9, not resumable), and the client identifies anew.
   */
  private resume(ws: WebSocket, d: Record<string, unknown>): void {
    const sessionId = String(d.session_id);
    const shard = this.sessions.get(sessionId);
    const ok = d.token === this.token && shard !== undefined;
    this.resumes.push({ sessionId, resumed: ok });
    if (!ok) {
      if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ op: 9, d: false, s: null, t: null }));
      return;
    }
    this.identified.set(ws, shard);
    this.dispatch(ws, 'RESUMED', {});
  }

  /**
   * IDENTIFY as Discord checks it: the token, then the shard (`[id, count]` with
   * `0 <= id < count`, and the required count if one is set), then whether the shard would hold
   * more guilds than one session may. A refusal closes the socket with Discord's close code.
   */
  private identify(ws: WebSocket, d: Record<string, unknown>): void {
    const raw = d.shard;
    const shard: [number, number] | undefined =
      Array.isArray(raw) && raw.length === 2 ? [Number(raw[0]), Number(raw[1])] : undefined;
    const record: RecordedIdentify = { shard, at: Date.now(), guilds: [] };
    this.identifies.push(record);
    const refuse = (code: number, reason: string) => {
      record.closedWith = code;
      ws.close(code, reason);
    };
    if (d.token !== this.token) {
      refuse(4004, 'Authentication failed.');
      return;
    }
    const [id, count] = shard ?? [0, 1];
    const required = this.opts.requiredShardCount;
    if (
      raw !== undefined &&
      (shard === undefined ||
        !Number.isInteger(id) ||
        !Number.isInteger(count) ||
        count < 1 ||
        id < 0 ||
        id >= count ||
        (required > 0 && count !== required))
    ) {
      refuse(4010, 'Invalid shard.');
      return;
    }
    const guilds = this.guildIds.filter((g) => shardOf(g, count) === id);
    if (guilds.length > this.opts.maxGuildsPerShard) {
      refuse(4011, 'Sharding required.');
      return;
    }
    record.guilds = guilds;
    this.identified.set(ws, [id, count]);
    const { port } = this.http.address() as AddressInfo;
    const sessionId = `session-${nextId()}`;
    this.sessions.set(sessionId, [id, count]);
    this.dispatch(ws, 'READY', {
      v: 10,
      user: this.botUser,
      guilds: guilds.map((g) => ({ id: g, unavailable: true })),
      session_id: sessionId,
      resume_gateway_url: `ws://127.0.0.1:${port}/gateway`,
      shard: [id, count],
      application: { id: this.applicationId, flags: 0 },
    });
    for (const g of guilds) this.dispatch(ws, 'GUILD_CREATE', this.guildPayload(g), { guildId: g });
  }

  private dispatch(
    ws: WebSocket,
    t: string,
    d: unknown,
    about: Omit<RecordedDispatch, 't' | 'shard'> = {},
  ): void {
    if (ws.readyState !== WebSocket.OPEN) return;
    this.dispatches.push({ t, shard: this.identified.get(ws) ?? [0, 1], ...about });
    ws.send(JSON.stringify({ op: 0, t, s: ++this.seq, d }));
  }

  /**
   * Sends a guild's event to the sockets whose shard holds that guild (DMs: shard 0), as
   * Discord does: never to the others. Returns how many sockets got it.
   */
  private dispatchToGuild(
    guildId: string | undefined,
    t: string,
    d: unknown,
    interactionId?: string,
  ): number {
    let sent = 0;
    for (const [ws, [id, count]] of this.identified) {
      if (shardOf(guildId, count) !== id || ws.readyState !== WebSocket.OPEN) continue;
      this.dispatch(ws, t, d, {
        ...(guildId !== undefined ? { guildId } : {}),
        ...(interactionId !== undefined ? { interactionId } : {}),
      });
      sent++;
    }
    return sent;
  }

  private guildPayload(guildId: string): Record<string, unknown> {
    const index = this.guildIds.indexOf(guildId);
    return {
      id: guildId,
      name: index === 0 ? 'Emulated Guild' : `Emulated Guild ${index + 1}`,
      icon: null,
      owner_id: '1',
      unavailable: false,
      member_count: 2,
      large: false,
      features: [],
      roles: [
        {
          id: guildId,
          name: '@everyone',
          permissions: PERMISSIONS.member,
          position: 0,
          color: 0,
          hoist: false,
          managed: false,
          mentionable: false,
          flags: 0,
        },
      ],
      emojis: [],
      stickers: [],
      members: [],
      presences: [],
      voice_states: [],
      threads: [],
      stage_instances: [],
      guild_scheduled_events: [],
      joined_at: new Date().toISOString(),
      channels: this.channelsOf(guildId).map((id, i) => ({
        id,
        type: 0,
        name: `papers-${i}`,
        position: i,
        guild_id: guildId,
        permission_overwrites: [],
      })),
    };
  }

  // ---- interactions --------------------------------------------------------------------------

  private member(userId: string, permissions: string) {
    return {
      user: { id: userId, username: `user${userId}`, discriminator: '0', global_name: null, avatar: null },
      roles: [],
      permissions,
      joined_at: new Date().toISOString(),
      deaf: false,
      mute: false,
      flags: 0,
    };
  }

  private open(
    type: number,
    data: Record<string, unknown>,
    opts: { channelId?: string; userId?: string; permissions?: string; extra?: Record<string, unknown> },
  ): InteractionHandle {
    const id = nextId();
    const token = `itoken-${id}`;
    const record = {
      responses: [] as Array<{ kind: 'callback' | 'followup' | 'edit'; body: Record<string, unknown> }>,
      created: Date.now(),
      token,
    };
    this.interactions.set(id, record);
    const channelId = opts.channelId ?? (this.channelIds[0] as string);
    const userId = opts.userId ?? '5000';
    const info = this.channelInfo.get(channelId);
    const dm = info?.type === 1;
    const guildId = dm ? undefined : (info?.guildId ?? this.guildId);
    const sockets = this.dispatchToGuild(
      guildId,
      'INTERACTION_CREATE',
      {
        id,
        application_id: this.applicationId,
        type,
        data,
        ...(dm
          ? { user: this.member(userId, '0').user }
          : {
              guild_id: guildId,
              member: this.member(userId, opts.permissions ?? PERMISSIONS.member),
              guild_locale: 'en-US',
            }),
        channel_id: channelId,
        channel: {
          id: channelId,
          type: dm ? 1 : 0,
          ...(dm ? {} : { guild_id: guildId, name: `channel-${channelId}` }),
        },
        token,
        version: 1,
        locale: 'en-US',
        app_permissions: PERMISSIONS.all,
        entitlements: [],
        authorizing_integration_owners: { 0: guildId ?? this.guildId },
        context: dm ? 1 : 0,
        ...opts.extra,
      },
      id,
    );
    const timer = setTimeout(() => {
      if (!record.responses.some((r) => r.kind === 'callback')) this.failedInteractions++;
    }, 3000);
    timer.unref();
    const waitFor = (
      pred: (r: { kind: string; body: Record<string, unknown> }) => boolean,
      timeoutMs = 10_000,
    ) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        const check = () => {
          const hit = record.responses.find(pred);
          if (hit) {
            this.off('interaction-response', check);
            clearTimeout(t);
            resolve(hit.body);
          }
        };
        const t = setTimeout(() => {
          this.off('interaction-response', check);
          reject(
            new Error(
              `interaction ${id}: no matching response within ${timeoutMs} ms; got ${JSON.stringify(record.responses)}`,
            ),
          );
        }, timeoutMs);
        this.on('interaction-response', check);
        check();
      });
    return {
      id,
      token,
      sockets,
      responses: () => [...record.responses],
      waitFor,
      reply: async (timeoutMs) =>
        (await waitFor((r) => r.kind === 'callback', timeoutMs)) as {
          type: number;
          data?: Record<string, unknown>;
        },
    };
  }

  /** A slash command, as a member with `permissions` in `channelId` would send it. */
  command(
    name: string,
    opts: {
      subcommand?: string;
      options?: Record<string, string | number>;
      channelId?: string;
      userId?: string;
      permissions?: string;
    } = {},
  ): InteractionHandle {
    const values = Object.entries(opts.options ?? {}).map(([n, value]) => ({
      name: n,
      type: typeof value === 'number' ? 4 : 3,
      value,
    }));
    const options = opts.subcommand ? [{ type: 1, name: opts.subcommand, options: values }] : values;
    return this.open(2, { id: nextId(), name, type: 1, options }, opts);
  }

  /** An autocomplete request for the focused option. */
  autocomplete(
    name: string,
    focused: string,
    value: string,
    opts: { channelId?: string; userId?: string; permissions?: string } = {},
  ): InteractionHandle {
    return this.open(
      4,
      { id: nextId(), name, type: 1, options: [{ type: 3, name: focused, value, focused: true }] },
      opts,
    );
  }

  /** A button click on an (ephemeral) message carrying `customId`. */
  click(
    customId: string,
    opts: { channelId?: string; userId?: string; permissions?: string } = {},
  ): InteractionHandle {
    const message = {
      ...this.webhookMessage({ content: 'results' }),
      components: [{ type: 1, components: [{ type: 2, style: 2, label: 'Next', custom_id: customId }] }],
    };
    return this.open(3, { custom_id: customId, component_type: 2 }, { ...opts, extra: { message } });
  }
}

function invalidForm(field: string, message: string) {
  return {
    status: 400,
    body: {
      message: 'Invalid Form Body',
      code: 50035,
      errors: { [field]: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message }] } },
    },
  };
}

/** Discord's message limits, checked as Discord checks them. */
export function validateMessage(b: Record<string, unknown>): { field: string; message: string } | undefined {
  const content = typeof b.content === 'string' ? b.content : '';
  const embeds = (b.embeds as Array<Record<string, unknown>> | undefined) ?? [];
  if (content.length > 2000) return { field: 'content', message: 'Must be 2000 or fewer in length.' };
  if (content === '' && embeds.length === 0)
    return { field: 'content', message: 'Cannot send an empty message' };
  if (embeds.length > 10) return { field: 'embeds', message: 'Must be 10 or fewer in length.' };
  let total = 0;
  for (const [i, e] of embeds.entries()) {
    const title = String(e.title ?? '');
    const description = String(e.description ?? '');
    const footer = String((e.footer as { text?: string } | undefined)?.text ?? '');
    const author = String((e.author as { name?: string } | undefined)?.name ?? '');
    const fields = (e.fields as Array<{ name: string; value: string }> | undefined) ?? [];
    if (title.length > 256) return { field: `embeds.${i}.title`, message: 'Must be 256 or fewer in length.' };
    if (description.length > 4096)
      return { field: `embeds.${i}.description`, message: 'Must be 4096 or fewer in length.' };
    if (footer.length > 2048)
      return { field: `embeds.${i}.footer.text`, message: 'Must be 2048 or fewer in length.' };
    if (author.length > 256)
      return { field: `embeds.${i}.author.name`, message: 'Must be 256 or fewer in length.' };
    if (fields.length > 25) return { field: `embeds.${i}.fields`, message: 'Must be 25 or fewer in length.' };
    total += title.length + description.length + footer.length + author.length;
    for (const [j, f] of fields.entries()) {
      if (f.name.length > 256)
        return { field: `embeds.${i}.fields.${j}.name`, message: 'Must be 256 or fewer in length.' };
      if (f.value.length > 1024)
        return { field: `embeds.${i}.fields.${j}.value`, message: 'Must be 1024 or fewer in length.' };
      total += f.name.length + f.value.length;
    }
  }
  if (total > 6000) return { field: 'embeds', message: 'Embed size exceeds maximum size of 6000' };
  return undefined;
}

export async function startDiscordEmulator(opts: EmulatorOptions = {}): Promise<DiscordEmulator> {
  return new DiscordEmulator(opts).listen();
}
