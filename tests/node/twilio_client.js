// The official Node twilio client against a running smsgw, driven by
// tests/gateway/integrations/test_twilio_node.py. Twilio's hosts are fixed in the
// client, so its own RequestClient is wrapped to send each request to SMSGW_URL.
// Usage: node twilio_client.js send   (env: SMSGW_URL, USER, SECRET, ACCOUNT_SID, TO,
//                                      and CALLBACK for a status callback)
//        node twilio_client.js validate  (stdin: JSON [{url, params, signature}], env: SECRET)
"use strict";

const twilio = require("twilio");

function gatewayClient(base) {
  const inner = new twilio.RequestClient();
  return {
    request(opts) {
      const uri = new URL(opts.uri);
      const target = base + uri.pathname + uri.search;
      return inner.request({ ...opts, uri: target });
    },
  };
}

async function send(env) {
  const client = twilio(env.USER, env.SECRET, {
    accountSid: env.ACCOUNT_SID,
    httpClient: gatewayClient(env.SMSGW_URL),
  });
  const params = { to: env.TO, from: "+14155550000", body: "Your appointment is at 9:30" };
  if (env.CALLBACK) params.statusCallback = env.CALLBACK;
  const created = await client.messages.create(params);
  const fetched = await client.messages(created.sid).fetch();
  const listed = await client.messages.list({ limit: 20 });
  let missing = null;
  try {
    await client.messages("SM" + "0".repeat(32)).fetch();
  } catch (error) {
    missing = { status: error.status, code: error.code };
  }
  return {
    created: { sid: created.sid, status: created.status, to: created.to,
               accountSid: created.accountSid, from: created.from },
    fetched: { sid: fetched.sid, body: fetched.body },
    listed: listed.map((m) => m.sid),
    missing,
  };
}

function validate(env, callbacks) {
  return callbacks.map((c) => ({
    valid: twilio.validateRequest(env.SECRET, c.signature, c.url, c.params),
    tampered: twilio.validateRequest(env.SECRET, c.signature, c.url, { ...c.params, Body: "x" }),
  }));
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

async function main() {
  const mode = process.argv[2];
  const env = process.env;
  const result = mode === "send" ? await send(env) : validate(env, await readStdin());
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.stack || error}\n`);
  process.exit(1);
});
