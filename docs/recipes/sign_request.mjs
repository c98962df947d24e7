// Recipe: a signed request to the Credit Consent Ledger API with ethers v6 (Node.js >= 18).
//   CCL_KEY=0x... CCL_API_URL=http://127.0.0.1:8700 \
//     node sign_request.mjs GET /v1/institution/subjects/USCC/report 'purpose=loan_application'
// An optional fourth argument names a file whose bytes are the (JSON) request body.
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { Wallet } from "ethers";

// Python's quote_plus: unreserved [A-Za-z0-9_.~-] kept, space as "+", the rest %XX (UTF-8).
function quotePlus(text) {
  return encodeURIComponent(text)
    .replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");
}

// Decoded (name, value) pairs, repeated ones kept, sorted by code point (= UTF-8 byte order).
export function canonicalQuery(rawQuery) {
  const pairs = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const at = part.indexOf("=");
    const [name, value] = at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    const decode = (s) => decodeURIComponent(s.replace(/\+/g, " "));
    pairs.push([decode(name), decode(value)]);
  }
  const bytes = (s) => Buffer.from(s, "utf8");
  pairs.sort((a, b) => Buffer.compare(bytes(a[0]), bytes(b[0])) || Buffer.compare(bytes(a[1]), bytes(b[1])));
  return pairs.map(([n, v]) => quotePlus(n) + "=" + quotePlus(v)).join("&");
}

export async function signedHeaders(wallet, method, path, query, body) {
  const timestamp = Math.floor(Date.now() / 1000);
  const nonce = randomBytes(16).toString("hex");
  const bodyHash = createHash("sha256").update(body).digest("hex");
  const text = ["CCL-REQUEST-V1", method.toUpperCase(), path, query, bodyHash, timestamp, nonce].join("\n");
  return {
    "X-CCL-Address": wallet.address,
    "X-CCL-Timestamp": String(timestamp),
    "X-CCL-Nonce": nonce,
    "X-CCL-Signature": await wallet.signMessage(text), // EIP-191, low s, v = 27/28
  };
}

async function main() {
  const [method, path, rawQuery = "", bodyFile] = process.argv.slice(2);
  const body = bodyFile ? readFileSync(bodyFile) : Buffer.alloc(0);
  const query = canonicalQuery(rawQuery);
  const headers = await signedHeaders(new Wallet(process.env.CCL_KEY), method, path, query, body);
  if (body.length) headers["Content-Type"] = "application/json";
  const base = (process.env.CCL_API_URL ?? "http://127.0.0.1:8700").replace(/\/$/, "");
  const response = await fetch(base + path + (query ? "?" + query : ""), {
    method,
    headers,
    body: body.length ? body : undefined,
  });
  console.log(response.status);
  console.log(await response.text());
  process.exit(response.status < 400 ? 0 : 1);
}

// Run as a script; imported, it only lends its functions.
if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
