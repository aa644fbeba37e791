// An express app traced by pinpoint-node-agent (/up calls /down over HTTP) and profiled
// by @pyroscope/nodejs under the same service name, with a CPU-bound burnCpu().
require('pinpoint-node-agent');
const Pyroscope = require('@pyroscope/nodejs');
const http = require('http');
const express = require('express');

Pyroscope.init({ serverAddress: process.env.PYRO_URL, appName: process.env.SERVICE, flushIntervalMs: 2000 });
Pyroscope.start();

function burnCpu(n) {
  let x = 0;
  for (let i = 0; i < n; i++) x += Math.sqrt(i) * Math.sin(i);
  return x;
}

const port = Number(process.env.APP_PORT);
const app = express();
app.get('/down', (req, res) => res.send('down ' + burnCpu(2e5)));
app.get('/up', (req, res) => {
  burnCpu(5e5);
  const call = http.request({ host: '127.0.0.1', port, path: '/down', method: 'GET' }, (resp) => {
    resp.resume();
    resp.on('end', () => res.send('up'));
  });
  call.on('error', (e) => res.status(502).send(String(e)));
  call.end();
});
// Busy between requests too, so every wall profile has burnCpu in it.
setInterval(() => burnCpu(1e6), 20);
app.listen(port, '127.0.0.1', () => console.log('shop listening on ' + port));
process.on('SIGTERM', async () => { await Pyroscope.stop(); process.exit(0); });
