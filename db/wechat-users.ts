// WeChat users (seed 000's 微信用户自动注册): an openid becomes a user, with a ledger account, on its first login.
import { createUser } from './users';
import type { Db } from './knex';

/** A WeChat user's uid is this plus their wechat_users id: far above the uids callers register themselves. */
export const WECHAT_UID_BASE = 1_000_000_000_000;

export interface WechatUser {
  uid: number;
  openid: string;
  /** True for the login that registered the user. */
  created: boolean;
}

interface WechatUserRow {
  id: string;
  openid: string;
  unionid: string | null;
  uid: string | null;
}

/**
 * The user behind an openid, registered (users row and ledger account in `currency`) on its first login. The
 * registration is one transaction, so concurrent first logins of one openid make one user and exactly one of them
 * reads `created`.
 */
export async function userForOpenid(db: Db, openid: string, unionid: string | null, currency: string): Promise<WechatUser> {
  const known = await db<WechatUserRow>('wechat_users').where({ openid }).first();
  if (known?.uid) {
    if (unionid && !known.unionid) await db('wechat_users').where({ id: known.id }).whereNull('unionid').update({ unionid });
    return { uid: Number(known.uid), openid, created: false };
  }
  return db.transaction(async (trx) => {
    // A concurrent first login waits here on the openid's unique key until ours commits, then finds the uid set.
    // Its shared lock is enough to read the committed row: asking for an exclusive one would deadlock with the others waiting.
    await trx.raw('INSERT IGNORE INTO wechat_users (openid, unionid) VALUES (?, ?)', [openid, unionid]);
    const row = (await trx<WechatUserRow>('wechat_users').where({ openid }).forShare().first())!;
    if (row.uid) return { uid: Number(row.uid), openid, created: false };
    const uid = WECHAT_UID_BASE + Number(row.id);
    const { created } = await createUser(trx, { uid }, currency);
    // Someone registered this uid through POST /api/v1/users: never hand their account to a WeChat user.
    if (!created) throw new Error(`wechat_users: uid ${uid} for openid ${openid} already belongs to a user registered otherwise`);
    await trx('wechat_users').where({ id: row.id }).update({ uid });
    return { uid, openid, created: true };
  });
}

/** The uid of a WeChat user who has logged in, or undefined. */
export async function uidForOpenid(db: Db, openid: string): Promise<number | undefined> {
  const row = await db<WechatUserRow>('wechat_users').where({ openid }).whereNotNull('uid').first('uid');
  return row?.uid ? Number(row.uid) : undefined;
}
