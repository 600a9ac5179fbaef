/**
 * The delivery port over discord.js's REST client: its queue handles rate limits (429s are
 * waited out there, never looped on here); errors become {@link DeliveryError}s.
 */
import { type APIChannel, type APIMessage, DiscordAPIError, HTTPError, type REST, Routes } from 'discord.js';
import { DeliveryError, type DiscordPort, type MessageBody } from '../pipeline/deliver.js';

/** Discord's JSON error codes that mean "this target refuses our posts" (pause, don't retry). */
const REFUSED_CODES = new Set([
  10003, // Unknown Channel
  10013, // Unknown User
  50001, // Missing Access
  50007, // Cannot send messages to this user (DMs closed)
  50013, // Missing Permissions
]);
/** A thread has already been created for this message. */
const THREAD_EXISTS = 160004;

/**
 * `signal`, when given, aborts every call in flight or queued once it fires (the service's
 * stop: see `DeliverOptions.signal`).
 */
export function createRestPort(rest: REST, signal?: AbortSignal): DiscordPort {
  const dms = new Map<string, string>();
  const opts = signal ? { signal } : {};
  return {
    async send(channelId, body) {
      const msg = (await call(() =>
        rest.post(Routes.channelMessages(channelId), { body, ...opts }),
      )) as APIMessage;
      return { id: msg.id };
    },
    async openDm(userId) {
      const known = dms.get(userId);
      if (known) return known;
      const channel = (await call(() =>
        rest.post(Routes.userChannels(), { body: { recipient_id: userId }, ...opts }),
      )) as APIChannel;
      dms.set(userId, channel.id);
      return channel.id;
    },
    async startThread(channelId, messageId, name) {
      try {
        const thread = (await call(() =>
          rest.post(Routes.threads(channelId, messageId), {
            body: { name, auto_archive_duration: 1440 } satisfies MessageBody,
            ...opts,
          }),
        )) as APIChannel;
        return thread.id;
      } catch (err) {
        // A retry after a crash: the thread exists, and a message's thread shares its id.
        if (err instanceof DeliveryError && err.code === THREAD_EXISTS) return messageId;
        throw err;
      }
    },
  };
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toDeliveryError(err);
  }
}

/** Classifies what discord.js threw. */
export function toDeliveryError(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  if (err instanceof DiscordAPIError) {
    const code = typeof err.code === 'number' ? err.code : undefined;
    const kind =
      err.status === 401
        ? 'unauthorized'
        : err.status === 403 || err.status === 404 || (code !== undefined && REFUSED_CODES.has(code))
          ? 'refused'
          : err.status >= 500
            ? 'transient'
            : code === THREAD_EXISTS
              ? 'invalid'
              : err.status >= 400
                ? 'invalid'
                : 'transient';
    return new DeliveryError(kind, err.message, err.status, code, { cause: err });
  }
  if (err instanceof HTTPError) {
    return new DeliveryError(
      err.status >= 500 ? 'transient' : 'invalid',
      err.message,
      err.status,
      undefined,
      {
        cause: err,
      },
    );
  }
  const message = err instanceof Error ? err.message || err.name : String(err);
  return new DeliveryError('transient', message, undefined, undefined, { cause: err });
}
