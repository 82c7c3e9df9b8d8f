// The e2e suite's OpenID provider: panva's oidc-provider (OpenID certified)
// on loopback, with its signing keys from a JWKS file (so that the suite can
// rotate them), one confidential client for Sesame, the built-in login and
// consent pages, and JWT access tokens for the resource `urn:sesame`.
//
// Usage: node provider.mjs PORT JWKS_FILE REDIRECT_URI
// GET /_stats answers how many times the JWKS was fetched.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [port, jwksFile, redirectUri] = process.argv.slice(2);
const jwks = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;
const stats = { jwks: 0 };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'sesame',
    client_secret: 'sesame-secret',
    redirect_uris: [redirectUri, 'http://127.0.0.1/callback'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks,
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          email: `${id}@example.org`,
          groups: id === 'alice' ? ['uc-admins'] : [],
        };
      },
    };
  },
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups'], email: ['email'] },
  conformIdTokenClaims: false,
  features: {
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:sesame',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'uc',
        audience: 'urn:sesame',
        accessTokenFormat: 'jwt',
        accessTokenTTL: 600,
      }),
    },
  },
  async extraTokenClaims(ctx, token) {
    return token.accountId ? { preferred_username: token.accountId } : undefined;
  },
  pkce: { required: () => true },
  ttl: { IdToken: 600, AccessToken: 600, Grant: 600, Session: 600, Interaction: 600 },
  cookies: { keys: ['sesame-e2e-cookie-key'] },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/_stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.path === '/jwks') stats.jwks += 1;
  await next();
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
