// jose_peer.mjs - the npm `jose` side of the interop test.
//   node jose_peer.mjs sign ALG JWKFILE CLAIMS_JSON   -> prints a compact JWT
//   node jose_peer.mjs verify ALG JWKFILE TOKEN       -> prints the payload JSON, exit 1 on failure
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const jose = require('jose');

const [mode, alg, jwkFile, arg] = process.argv.slice(2);
const jwk = JSON.parse(readFileSync(jwkFile, 'utf8'));
const key = await jose.importJWK(jwk.keys ? jwk.keys[0] : jwk, alg);

if (mode === 'sign') {
  const header = { alg, typ: 'JWT' };
  if (jwk.kid) header.kid = jwk.kid;
  const token = await new jose.SignJWT(JSON.parse(arg)).setProtectedHeader(header).sign(key);
  process.stdout.write(token + '\n');
} else if (mode === 'verify') {
  try {
    const { payload } = await jose.jwtVerify(arg, key, { algorithms: [alg], issuer: 'interop' });
    process.stdout.write(JSON.stringify(payload) + '\n');
  } catch (e) {
    process.stderr.write(`jose verify failed: ${e.code || ''} ${e.message}\n`);
    process.exit(1);
  }
} else {
  process.stderr.write('usage: jose_peer.mjs sign|verify ALG JWKFILE ARG\n');
  process.exit(2);
}
