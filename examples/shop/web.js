// A tiny web process: answers on $PORT and says which instance answered.
const http = require('node:http');

const port = Number(process.env.PORT) || 5000;
const name = process.env.CLUSTER_INSTANCE || 'web';
const server = http.createServer((req, res) => {
  console.log(`${req.method} ${req.url}`);
  res.end(`hello from ${name} on ${process.env.CLUSTER_HOST || 'localhost'}\n`);
});
server.listen(port, () => console.log(`listening on port ${port}`));
process.on('SIGTERM', () => {
  console.log('SIGTERM: finishing requests');
  server.close(() => process.exit(0));
});
