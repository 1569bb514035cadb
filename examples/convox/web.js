// The web process: answers on $PORT (the platform gives each instance its own).
const http = require('node:http');
const port = Number(process.env.PORT || 3000);
http
  .createServer((req, res) => res.end(`${process.env.GREETING || 'hello'} from ${process.env.DYNO || 'web'}\n`))
  .listen(port, () => console.log(`web listening on ${port}`));
