// Verify a license token against a JWKS with jose, as a JavaScript client would offline.
// Usage: node verify.mjs <jwks.json> <token> [issuer]
// Prints the verified claims as JSON; exits 1 (and says why on stderr) when it fails.
import { readFileSync } from "node:fs";
import { createLocalJWKSet, jwtVerify } from "jose";

const [jwksPath, token, issuer] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksPath, "utf8")));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    algorithms: ["EdDSA"],
    typ: "license+jwt",
    ...(issuer ? { issuer } : {}),
    clockTolerance: 60,
  });
  console.log(JSON.stringify({ header: protectedHeader, claims: payload }));
} catch (error) {
  console.error(`${error.code ?? error.name}: ${error.message}`);
  process.exit(1);
}
