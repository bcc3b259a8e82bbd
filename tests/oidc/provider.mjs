// A real OpenID provider (oidc-provider, OpenID certified) on loopback for the console's
// sign-in tests. Everything a relying party meets is the library's own: discovery, the
// authorization endpoint with PKCE required, the code exchange with client authentication,
// the signed ID token, the JWKS. Two things are the test's:
//   - the login interaction signs in the account `GET /test/next?user=SUB` chose, without a
//     form (a person typing a password is not what is under test);
//   - `GET /test/next?mode=...` makes the token endpoint's next answers carry an ID token
//     re-signed with a key the provider never published (`forged-signature`) or, signed with
//     its real key, for another client (`wrong-audience`): what a relying party must refuse.
// Configuration: PORT and OIDC_TEST_CONFIG (JSON: {clients: [...], accounts: {sub: claims}}).
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const config = JSON.parse(process.env.OIDC_TEST_CONFIG);
const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const forger = (await generateKeyPair('RS256')).privateKey;
const jwk = { ...(await exportJWK(privateKey)), kid: 'planb-test', alg: 'RS256', use: 'sig' };
let nextUser = Object.keys(config.accounts)[0];
let mode = 'honest';

const provider = new Provider(issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
    ...client,
  })),
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username', 'groups'],
    email: ['email'],
  },
  conformIdTokenClaims: false, // the profile's claims in the ID token itself
  findAccount: async (_ctx, sub) => (config.accounts[sub]
    ? { accountId: sub, claims: async () => ({ sub, ...config.accounts[sub] }) }
    : undefined),
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['planb-test-oidc-cookies'] },
});

provider.use(async (ctx, next) => {
  if (ctx.path === '/test/next') {
    nextUser = ctx.query.user || nextUser;
    mode = ctx.query.mode || 'honest';
    ctx.body = { user: nextUser, mode };
    return;
  }
  const interaction = ctx.path.match(/^\/interaction\/[^/]+$/);
  if (interaction && ctx.method === 'GET') {
    const { params } = await provider.interactionDetails(ctx.req, ctx.res);
    const grant = new provider.Grant({ accountId: nextUser, clientId: params.client_id });
    grant.addOIDCScope(params.scope);
    const grantId = await grant.save();
    const result = { login: { accountId: nextUser }, consent: { grantId } };
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    return;
  }
  await next();
  if (ctx.path === '/token' && mode !== 'honest' && ctx.body && ctx.body.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const header = decodeProtectedHeader(ctx.body.id_token);
    const key = mode === 'forged-signature' ? forger : privateKey;
    if (mode === 'wrong-audience') claims.aud = 'another-application';
    const idToken = await new SignJWT(claims).setProtectedHeader(header).sign(key);
    ctx.body = { ...ctx.body, id_token: idToken };
  }
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ready at ${issuer}`);
});
