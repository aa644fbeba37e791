// A Node app with CPU and allocation work, profiled by the real dd-trace profiler.
// Runs for APP_SECONDS (default 9) and then ends by itself, so the profiler sends its
// last profile too (it does not on process.exit()). APP_SPANS=1 runs each round inside a
// span, so the wall profile carries `span id` / `local root span id` labels.
const tracer = require('dd-trace').init({ profiling: true });
const seconds = Number(process.env.APP_SECONDS || 9);
const until = Date.now() + seconds * 1000;
const inSpan = process.env.APP_SPANS === '1'
  ? (fn) => tracer.trace('web.request', { resource: 'GET /work' }, fn)
  : (fn) => fn();
let keep = [];
function work() {
  let x = 0;
  for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * Math.sin(i);
  keep.push(new Array(1000).fill(x));
  if (keep.length > 200) keep = keep.slice(100);
}
function loop() {
  inSpan(work);
  if (Date.now() < until) setTimeout(loop, 5);
}
loop();
