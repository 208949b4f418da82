// Starts Bluesky's reference servers for the tests: a PLC directory and a PDS on SQLite (@atproto/dev-env's
// TestNetworkNoAppView), on free loopback ports. Prints one line of JSON with their URLs and the admin password
// on stdout, then stays up until stdin closes or the process is told to stop.
//
//   node scripts/peers/bluesky-pds.mjs
//   {"pds":"http://localhost:PORT","plc":"http://localhost:PORT","handle_domain":".test","admin_password":"..."}
//
// Accounts are created by the tests themselves (com.atproto.server.createAccount needs no invite here).

import { TestNetworkNoAppView } from '@atproto/dev-env'
import { ADMIN_PASSWORD } from '@atproto/dev-env'

const quiet = () => {}
// The servers log every request at info level through pino; only the JSON line belongs on stdout.
process.env.LOG_ENABLED = process.env.LOG_ENABLED ?? 'false'
const log = console.log
console.log = (...args) => console.error(...args)
console.info = quiet
console.debug = quiet

const network = await TestNetworkNoAppView.create({})
log(
  JSON.stringify({
    pds: network.pds.url,
    plc: network.plc.url,
    handle_domain: '.test',
    admin_password: ADMIN_PASSWORD,
  }),
)

let closing = false
const stop = async () => {
  if (closing) return
  closing = true
  try {
    await network.close()
  } catch (err) {
    console.error('closing the reference servers:', err)
  }
  process.exit(0)
}
process.stdin.on('end', stop)
process.stdin.on('close', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
