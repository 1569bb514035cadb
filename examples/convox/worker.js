// The worker process: does a unit of background work every few seconds.
let jobs = 0;
console.log('worker started');
setInterval(() => console.log(`worker did job ${++jobs}`), 5000);
