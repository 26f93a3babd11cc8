// A real OpenID provider for the OIDC login tests (tests/it/oidc.rs): panva's
// oidc-provider (OpenID certified) on 127.0.0.1:PORT, one confidential client
// "websockify" (secret SECRET, callback REDIRECT), and two users: alice in the
// group "desk", bob in none. Logins go through the provider's own
// devInteractions forms (any password). ID tokens carry preferred_username and
// groups (profile scope) and are signed RS256 with a key made at start.
//
//   node provider.mjs PORT REDIRECT SECRET
// Prints "listening on http://127.0.0.1:PORT" once it accepts.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, redirect, secret] = process.argv.slice(2);
if (!port || !redirect || !secret) {
  console.error('usage: node provider.mjs PORT REDIRECT SECRET');
  process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const groups = { alice: ['desk'], bob: [] };

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = `key-${process.pid}-${Date.now()}`;
const key = { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'websockify',
    client_secret: secret,
    redirect_uris: [redirect],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  claims: { openid: ['sub'], profile: ['preferred_username', 'groups'] },
  // The scope's claims in the ID token itself, as Keycloak does.
  conformIdTokenClaims: false,
  jwks: { keys: [key] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    if (!(id in groups)) return undefined;
    return {
      accountId: id,
      async claims() { return { sub: id, preferred_username: id, groups: groups[id] }; },
    };
  },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`listening on ${issuer}`);
});
