// Nodemailer (Debian's node-nodemailer) as the client under `smtpsim probe --client` (README.md here).
// node nodemailer_client.js POLICY HOST PORT CA FROM USER PASSWORD MESSAGE RCPT [RCPT ...]
// required: requireTLS with the CA and host name verified; opportunistic: STARTTLS when offered,
// the certificate not checked. Exit 0 only when every recipient was accepted.
const fs = require('fs');
const nodemailer = require('nodemailer');
const [policy, host, port, ca, from, user, pass, message, ...to] = process.argv.slice(2);
const required = policy === 'required';
const transport = nodemailer.createTransport({
  host, port: Number(port), secure: false, requireTLS: required,
  auth: { user, pass },
  tls: required ? { ca: [fs.readFileSync(ca)], rejectUnauthorized: true } : { rejectUnauthorized: false },
  connectionTimeout: 8000, greetingTimeout: 8000, socketTimeout: 8000,
});
transport.sendMail({ envelope: { from, to }, raw: fs.readFileSync(message) })
  .then((info) => { if (info.rejected.length) { console.error('rejected', info.rejected); process.exit(1); } process.exit(0); })
  .catch((e) => { console.error(e.message); process.exit(1); });
