// A Node app profiled by the real dd-trace profiler, its work inside spans so the wall
// profile carries `span id` / `local root span id` labels. Ends by itself after
// APP_SECONDS so the profiler sends its last profile.
const tracer = require('dd-trace').init({ profiling: true });
const seconds = Number(process.env.APP_SECONDS || 7);
const until = Date.now() + seconds * 1000;
let keep = [];
function work() {
  tracer.trace('web.request', { resource: 'GET /work' }, () => {
    let x = 0;
    for (let i = 0; i < 2e6; i++) x += Math.sqrt(i) * Math.sin(i);
    keep.push(new Array(1000).fill(x));
    if (keep.length > 200) keep = keep.slice(100);
  });
  if (Date.now() < until) setTimeout(work, 5);
}
work();
