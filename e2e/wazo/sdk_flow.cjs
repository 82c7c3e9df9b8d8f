// The wazo suite's client: @wazo/sdk's own code (its dist bundle, as
// published on npm) driving Sesame through nginx, as a Wazo app does.
// Usage: node sdk_flow.cjs SERVER SDK_BUNDLE STEP
// Prints one JSON object: what the SDK saw.
'use strict';
const [server, bundle, step] = process.argv.slice(2);
const { WazoApiClient } = require(bundle);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const outcome = (promise) =>
  promise.then(
    (value) => ({ ok: true, value }),
    (e) => ({ ok: false, status: e && e.status, message: e && e.message }),
  );

async function app() {
  const seen = {};
  const client = new WazoApiClient({ server, clientId: 'e2e-app' });
  // An app with a client id logs in offline and keeps the refresh token.
  const session = await client.auth.logIn({ username: 'alice', password: 's3cre7', expiration: 2 });
  seen.login = {
    token: typeof session.token === 'string' && session.token.length === 36,
    refreshToken: session.refreshToken || null,
    uuid: session.uuid || null,
    tenantUuid: session.tenantUuid || null,
  };
  seen.checkFresh = (await outcome(client.auth.checkToken(session.token))).value === true;
  await sleep(3000);
  seen.checkExpired = await outcome(client.auth.checkToken(session.token));
  // What the SDK does on a 401 or "No such token": log in again with the
  // refresh token, without the user's password.
  const renewed = await client.auth.refreshToken(session.refreshToken, 'wazo_user', 60);
  seen.refreshed = {
    newToken: !!renewed.token && renewed.token !== session.token,
    valid: (await outcome(client.auth.checkToken(renewed.token))).value === true,
    sameUser: renewed.uuid === session.uuid,
  };
  // The same offline login again returns the same refresh token.
  const again = await client.auth.logIn({ username: 'alice', password: 's3cre7', expiration: 60 });
  seen.sameRefreshToken = again.refreshToken === session.refreshToken;
  // The SDK's own replay: a call with an expired token is retried once
  // the refresh callback gave a new one.
  client.setToken(session.token);
  client.setRefreshToken(session.refreshToken);
  client.setRefreshBackend && client.setRefreshBackend('wazo_user');
  client.setRefreshExpiration && client.setRefreshExpiration(60);
  seen.replayed = await outcome(client.auth.authenticate(session.token));
  if (seen.replayed.ok && seen.replayed.value) {
    seen.replayed = { ok: true, renewedToken: seen.replayed.value.token !== session.token };
  }
  // The user's sessions (needs auth.users.me.sessions.read): the offline
  // logins' and the refresh login's, each with its session uuid.
  client.setToken(again.token);
  const listed = await outcome(client.auth.getUserSession(session.uuid));
  const items = listed.ok ? listed.value.items : [];
  seen.sessions = {
    ok: listed.ok,
    total: listed.ok ? listed.value.total : null,
    hasRenewed: items.some((i) => i.uuid === renewed.sessionUuid),
    allAlice: items.every((i) => i.user_uuid === session.uuid),
  };
  // The tenants the user may see (needs auth.tenants.read).
  const tenants = await outcome(client.auth.listTenants());
  seen.tenants = tenants.ok
    ? tenants.value.items.map((t) => `${t.name}:${t.parent_uuid === t.uuid ? 'top' : 'sub'}`).sort()
    : tenants;
  // Ending the refresh login's session revokes its token, and only it.
  seen.deleteSession = await outcome(client.auth.deleteUserSession(session.uuid, renewed.sessionUuid));
  seen.checkAfterDeleteSession = await outcome(client.auth.checkToken(renewed.token));
  seen.checkOtherSession = (await outcome(client.auth.checkToken(again.token))).value === true;
  const after = await outcome(client.auth.getUserSession(session.uuid));
  seen.sessionsAfter = after.ok ? after.value.items.some((i) => i.uuid === renewed.sessionUuid) : null;
  // Log out: the token is gone.
  const last = await client.auth.refreshToken(session.refreshToken, 'wazo_user', 60);
  seen.logout = await outcome(client.auth.logOut(last.token));
  seen.checkAfterLogout = await outcome(client.auth.checkToken(last.token));
  // Revoke the app's refresh token (needs auth.users.me.tokens.e2e-app.delete).
  seen.deleteRefresh = await outcome(client.auth.deleteRefreshToken('e2e-app'));
  seen.refreshAfterDelete = await outcome(client.auth.refreshToken(session.refreshToken, 'wazo_user', 60));
  return seen;
}

async function service() {
  // A daemon renewing its service token: {"expiration": 3600}, no backend,
  // sent with the SDK's own requester.
  const client = new WazoApiClient({ server });
  const basic = Buffer.from('wazo-calld:calld-key').toString('base64');
  const answer = await outcome(
    client.client.post('auth/0.1/token', { expiration: 3600 }, {
      Authorization: `Basic ${basic}`,
      'Content-Type': 'application/json',
    }),
  );
  return {
    ok: answer.ok,
    status: answer.status || null,
    token: answer.ok ? answer.value.data.token.length === 36 : false,
    purpose: answer.ok ? answer.value.data.metadata.purpose : null,
  };
}

(step === 'service' ? service() : app())
  .then((seen) => {
    console.log(JSON.stringify(seen));
    // The SDK leaves request timers behind: do not wait for them.
    process.exit(0);
  })
  .catch((e) => {
    console.log(JSON.stringify({ error: String(e), status: e && e.status }));
    process.exit(1);
  });
